//! The controllers and the scheduler: Deployments, ReplicaSets,
//! StatefulSets, DaemonSets, Jobs, volume binding and the scheduler's
//! filters and messages, each a loop fed by the store's changes.

pub mod controller;
pub mod deployment;
pub mod replicaset;
pub mod scheduler;
pub mod scheduler_rules;
pub mod volumes;
pub mod workloads;

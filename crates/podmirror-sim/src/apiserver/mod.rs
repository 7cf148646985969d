//! The API server: storage with resourceVersions and watch history, the
//! HTTP routes kubectl and kube-rs use (discovery, OpenAPI, protobuf and
//! table bodies, patches, server-side apply, subresources, logs),
//! defaulting and validation, fault injection and the request log.

pub mod cluster;
pub mod defaults;
pub mod discovery;
pub mod faults;
pub mod http;
pub mod managed;
pub mod openapi;
pub mod patch;
pub mod podlog;
pub mod proto;
pub mod proxy;
pub mod quota;
pub mod requests;
pub mod resources;
pub mod store;
pub mod strategic;
pub mod table;
pub mod validate;
pub mod watch;
pub mod webhooks;

//go:build tools

// Package tools lists etcd's server command so go.mod pins it.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)

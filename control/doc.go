// Package control holds what users and tools speak to vtepd with: the
// configuration (YAML or flags turned into validated types, with errors that
// name the field), and the control API, HTTP+JSON over a unix socket, with its
// client, and the Prometheus metrics export.
//
// It never touches packets; the daemon plugs its networks in through the
// Backend interface.
package control

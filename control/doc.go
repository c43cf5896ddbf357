// Package control holds what users and tools speak to vtepd with: the
// configuration (YAML, flags or a JSON request, each decoded into one
// network spec and validated once, with errors that are FieldErrors printed
// in the words of the front end the user typed into), and the control API,
// HTTP+JSON over a unix socket, with its client, and the Prometheus metrics
// export.
//
// It never touches packets; the daemon (package node) plugs its networks
// in through the Backend interface.
package control

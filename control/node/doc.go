// Package node is the vtepd daemon as a library: a Node runs the networks a
// control.Config describes, applies a reloaded config by touching only what
// changed, makes a device deleted under it again (or reports why it should
// stop), and serves the control API as its control.Backend, live tracing
// included.
//
// The devices, sockets and kernel routes it runs on come from a Host:
// Linux() for the real ones, in-memory fakes (dataplane/linktest) in tests,
// so that all of the above is tested without root. It opens no listener of
// its own: cmd/vtepd wires the control socket and metrics to it.
package node

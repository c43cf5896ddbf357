// Package dataplane moves packets: it reads frames from TAP devices, looks them
// up in the forwarding database, encapsulates them and sends them on the
// underlay socket, and the reverse on receive. Devices and sockets sit behind
// the small Link and Conn interfaces so the forwarding routines can be tested on
// in-memory fakes.
//
// It never imports control.
package dataplane

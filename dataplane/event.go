package dataplane

import "net/netip"

// Stage of a frame's trip through vtepd.
type Stage uint8

// Stages, in the order a frame meets them: transmit first, then receive.
const (
	// StageDeviceIn: a frame (VXLAN) or IP packet (IPIP) read from the device.
	StageDeviceIn Stage = iota + 1
	// StageLookup: where it goes: an FDB hit, a miss or a flood (VXLAN), a
	// route or none (IPIP).
	StageLookup
	// StageEncap: the outer headers written in front of it.
	StageEncap
	// StageSocketOut: handed to the underlay socket, one event per copy.
	StageSocketOut
	// StageSocketIn: received on the underlay socket.
	StageSocketIn
	// StageDecap: the outer headers taken off.
	StageDecap
	// StageLearn: the inner source MAC learnt (or not) from the sender.
	StageLearn
	// StageDeviceOut: written to the device.
	StageDeviceOut
	// StageDrop: dropped; Event.Drop says why and Event.At where.
	StageDrop
	numStages
)

// Names of the stages, as the control API and vtepctl show them.
const (
	NameDeviceIn  = "device-in"
	NameLookup    = "lookup"
	NameEncap     = "encap"
	NameSocketOut = "socket-out"
	NameSocketIn  = "socket-in"
	NameDecap     = "decap"
	NameLearn     = "learn"
	NameDeviceOut = "device-out"
	NameDrop      = "drop"
)

var stageNames = [numStages]string{
	StageDeviceIn:  NameDeviceIn,
	StageLookup:    NameLookup,
	StageEncap:     NameEncap,
	StageSocketOut: NameSocketOut,
	StageSocketIn:  NameSocketIn,
	StageDecap:     NameDecap,
	StageLearn:     NameLearn,
	StageDeviceOut: NameDeviceOut,
	StageDrop:      NameDrop,
}

// String is the stage's name as the control API reports it, like "device-in".
func (s Stage) String() string {
	if s == 0 || s >= numStages {
		return "unknown"
	}
	return stageNames[s]
}

// ParseStage is the stage called name, as String names it.
func ParseStage(name string) (Stage, bool) {
	for s := StageDeviceIn; s < numStages; s++ {
		if stageNames[s] == name {
			return s, true
		}
	}
	return 0, false
}

// Results of a lookup, in Event.Lookup.
const (
	LookupHit     = "hit"      // the FDB knows the destination MAC: one remote
	LookupMiss    = "miss"     // unknown unicast: flooded to Event.Remotes
	LookupFlood   = "flood"    // broadcast or multicast: flooded to Event.Remotes
	LookupRoute   = "route"    // an IPIP route: Event.Peer is its endpoint
	LookupNoRoute = "no-route" // no IPIP route covers the destination
	// LookupSuppressed: an ARP request or neighbour solicitation for an
	// address the control plane named, answered into the device and sent
	// nowhere: the request's last stage. Event.Answer is the answer, whose
	// write into the device follows as a frame of its own.
	LookupSuppressed = "suppressed"
)

// Event is one frame at one stage.
//
// Bytes holds, by stage (for StageDrop, by At):
//
//	device-in, lookup, decap, learn, device-out:
//	    the inner frame: Ethernet (VXLAN) or IP packet (IPIP)
//	encap, socket-out:
//	    the whole outer IP packet, inner frame included; or, when UDPPayload
//	    is set, the UDP payload (VXLAN header and frame) of a socket that
//	    writes the IP and UDP headers itself
//	socket-in:
//	    VXLAN: the UDP payload (UDPPayload is set): the socket hands over no
//	    more; IPIP: the whole outer IP packet, as the underlay socket gives it
//
// A drop without bytes (nothing left to show) has none.
type Event struct {
	Stage Stage
	// Frame numbers the frames of one network: every event of one frame,
	// from device to socket or socket to device, carries the same number.
	Frame   uint64
	Network string
	VNI     uint32
	Kind    string // "vxlan" or "ipip"

	// Bytes is the frame or packet at this stage. It is valid only during
	// Observe: an observer that keeps it copies it.
	Bytes []byte
	// UDPPayload says Bytes of a socket stage starts at the UDP payload.
	UDPPayload bool

	// Peer is the remote VTEP: the destination going out, the sender coming
	// in, the FDB entry's or the route's remote at lookup and learn.
	Peer     netip.Addr
	PeerPort uint16
	// Local and LocalPort are this end of the underlay: with Peer they are
	// the addresses of the outer headers a socket did not hand over.
	Local     netip.Addr
	LocalPort uint16

	Lookup  string       // Lookup* at StageLookup
	Remotes []netip.Addr // every destination of a flood, group first
	Route   netip.Prefix // at a lookup of LookupRoute: the route's prefix
	Answer  []byte       // at a lookup of LookupSuppressed: the answer frame
	Learn   string       // fdb.LearnResult's name at StageLearn
	Drop    string       // the Drop reason's name at StageDrop
	At      Stage        // at StageDrop: the stage the frame was dropped at

	Time int64 // unix nanoseconds
}

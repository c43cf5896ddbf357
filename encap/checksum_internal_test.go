package encap

// hasVector reports whether Checksum has a vector loop on this CPU.
func hasVector() bool { return hasAVX2 }

// setVector turns the vector loop on (where the CPU has one) or off, and
// returns what restores it.
func setVector(on bool) (restore func()) {
	old := useVector
	useVector = on && hasAVX2
	return func() { useVector = old }
}

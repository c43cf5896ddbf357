//go:build !amd64

package encap

// No vector sum is written for this architecture.
var hasAVX2, useVector = false, false

// sumVector takes nothing: the scalar loop sums all of b.
func sumVector(b []byte) (acc uint64, n int) { return 0, 0 }

// copySumVector takes nothing: ChecksumCopy copies and sums all of src.
func copySumVector(dst, src []byte) (acc uint64, n int) { return 0, 0 }

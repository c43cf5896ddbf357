package encap

import "testing"

// eachSumLoop runs fn once with the scalar loop alone and, where the CPU has
// a vector loop, once more with it, so that a machine with AVX2 checks both.
func eachSumLoop(t *testing.T, fn func(t *testing.T)) {
	for _, vector := range []bool{false, true} {
		t.Run(map[bool]string{false: "scalar", true: "vector"}[vector], func(t *testing.T) {
			if vector && !hasAVX2 {
				t.Skip("no vector sum on this CPU")
			}
			old := useVector
			useVector = vector
			defer func() { useVector = old }()
			fn(t)
		})
	}
}

package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func TestExplain(t *testing.T) {
	tests := []struct {
		kind  string
		lines []*regexp.Regexp // each must match one line of the table
		sum   string
	}{
		{"vxlan", []*regexp.Regexp{
			regexp.MustCompile(`^eth 0-5\s+.*outer Ethernet\s+destination MAC`),
			regexp.MustCompile(`^0\s+45\s+outer IPv4\s+version, IHL`),
			regexp.MustCompile(`^22-23\s+12 b5\s+UDP\s+destination port\s+4789 `),
			regexp.MustCompile(`^28\s+08\s+VXLAN\s+flags\s+0x08 `),
			regexp.MustCompile(`^32-34\s+00 00 2a\s+VXLAN\s+VNI\s+42 `),
			regexp.MustCompile(`^36-41\s+.*inner Ethernet\s+destination MAC`),
			regexp.MustCompile(`^62-65\s+c0 a8 2a 01\s+inner IPv4\s+source\s+192\.168\.42\.1$`),
		}, "= 50 bytes"},
		{"ipip", []*regexp.Regexp{
			regexp.MustCompile(`^9\s+04\s+outer IPv4\s+protocol\s+4 \(IPIP\)`),
			regexp.MustCompile(`^20\s+45\s+inner IPv4\s+version, IHL`),
			regexp.MustCompile(`^36-39\s+0a f4 01 07\s+inner IPv4\s+destination\s+10\.244\.1\.7$`),
		}, "= 20 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run([]string{"explain", tc.kind}, &out, &errb); code != exitOK {
				t.Fatalf("exit %d, stderr %q", code, errb.String())
			}
			lines := strings.Split(out.String(), "\n")
			for _, re := range tc.lines {
				found := false
				for _, l := range lines {
					found = found || re.MatchString(l)
				}
				if !found {
					t.Errorf("no line matches %q in\n%s", re, out.String())
				}
			}
			if !strings.Contains(out.String(), tc.sum) {
				t.Errorf("overhead %q missing from\n%s", tc.sum, out.String())
			}
		})
	}
	var out, errb bytes.Buffer
	if code := run([]string{"explain", "gre"}, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "explain vxlan or explain ipip") {
		t.Errorf("explain gre: exit %d, stderr %q; want %d naming the choices", code, errb.String(), exitUsage)
	}
}

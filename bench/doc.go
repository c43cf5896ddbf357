// Package bench measures vtepd against the kernel's own data path.
package bench

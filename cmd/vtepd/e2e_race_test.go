//go:build linux && race

package main

func init() { raceBuild = true }

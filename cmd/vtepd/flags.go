package main

import "github.com/vtepd/vtepd/control"

// parseArgs turns the command line into a validated config; the rules and
// the usage text live in package control.
func parseArgs(args []string) (*control.Config, error) { return control.ParseFlags(args) }

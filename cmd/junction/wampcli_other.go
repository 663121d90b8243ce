//go:build !unix

package main

import "os/exec"

// killGroupOnCancel leaves cmd as it is: the cancel of its context kills
// the command only.
func killGroupOnCancel(*exec.Cmd) {}

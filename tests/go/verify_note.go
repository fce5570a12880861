// Verifies a consent-service checkpoint note with golang.org/x/mod/sumdb/note, a third-party
// implementation of the C2SP signed-note format, and checks the tlog-checkpoint body.
//
// Usage: GO111MODULE=off GOPATH=/usr/share/gocode go run verify_note.go VKEY NOTE_FILE
// Prints "origin size base64-root" and exits 0 when the signature verifies; exits 1 otherwise.
package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: verify_note VKEY NOTE_FILE")
	}
	verifier, err := note.NewVerifier(os.Args[1])
	if err != nil {
		fail("verifier key: %v", err)
	}
	msg, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail("read note: %v", err)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fail("open note: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 3 {
		fail("checkpoint body has %d lines", len(lines))
	}
	if lines[0] != verifier.Name() {
		fail("origin %q is not the key name %q", lines[0], verifier.Name())
	}
	if _, err := strconv.ParseUint(lines[1], 10, 64); err != nil {
		fail("tree size: %v", err)
	}
	if root, err := base64.StdEncoding.DecodeString(lines[2]); err != nil || len(root) != 32 {
		fail("root hash is not 32 bytes of base64")
	}
	fmt.Println(lines[0], lines[1], lines[2])
}

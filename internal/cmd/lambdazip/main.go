// Command lambdazip packages a Lambda bootstrap binary as a deployment zip:
// one entry named "bootstrap", executable (0755), with a fixed timestamp so
// that the same binary always gives the same zip (and the same
// source_code_hash in Terraform). Used by scripts/lambda-package.sh; it
// needs no zip tool on the machine.
//
//	go run ./internal/cmd/lambdazip -o dist/mcpfleet-lambda-arm64.zip dist/lambda-arm64/bootstrap
package main

import (
	"archive/zip"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	out := flag.String("o", "", "the zip file to write")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: lambdazip -o FILE.zip BOOTSTRAP")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := pack(*out, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "lambdazip:", err)
		os.Exit(1)
	}
}

// epoch is the timestamp of the entry: fixed, for reproducible zips.
var epoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func pack(out, bootstrap string) error {
	in, err := os.Open(bootstrap)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	zw := zip.NewWriter(f)
	hdr := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: epoch}
	hdr.SetMode(0o755)
	w, err := zw.CreateHeader(hdr)
	if err == nil {
		_, err = io.Copy(w, in)
	}
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return os.Rename(tmp, out)
}

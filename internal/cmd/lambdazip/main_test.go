package main

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestPack(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bootstrap")
	content := bytes.Repeat([]byte("\x7fELF binary"), 1000)
	if err := os.WriteFile(bin, content, 0o600); err != nil {
		t.Fatal(err)
	}
	var zips [][]byte
	for i := range 2 {
		out := filepath.Join(dir, "fn"+string(rune('a'+i))+".zip")
		if err := pack(out, bin); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		zips = append(zips, b)
	}
	if !bytes.Equal(zips[0], zips[1]) {
		t.Error("two packs of the same binary differ: not reproducible")
	}
	zr, err := zip.NewReader(bytes.NewReader(zips[0]), int64(len(zips[0])))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" || zr.File[0].Mode().Perm() != 0o755 {
		t.Fatalf("entries %v", zr.File)
	}
	rc, _ := zr.File[0].Open()
	got, _ := io.ReadAll(rc)
	if !bytes.Equal(got, content) {
		t.Error("content differs")
	}
	if err := pack(filepath.Join(dir, "x.zip"), filepath.Join(dir, "missing")); err == nil {
		t.Error("missing binary: no error")
	}
}

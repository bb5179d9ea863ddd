package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// image builds an OCI image of local files and imports it into the node's containerd:
//
//	testenv image --containerd SOCK --name REF --entrypoint PATH HOST[:IMAGE]...
//
// Each file is put at IMAGE (default: its base name under /), with the shared libraries
// an ELF executable needs (and their own) at their host paths, so a binary built on this
// machine runs as it does here. Images come from files, not from a registry: this
// machine reaches none.
func image(args []string) error {
	flags := flag.NewFlagSet("image", flag.ExitOnError)
	socket := flags.String("containerd", "", "containerd's socket")
	name := flags.String("name", "", "image reference, e.g. ecsfleet.test/ecsfleet:e2e")
	entrypoint := flags.String("entrypoint", "", "the command the image runs")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *socket == "" || *name == "" || *entrypoint == "" || flags.NArg() == 0 {
		return fmt.Errorf("--containerd, --name, --entrypoint and at least one file are required")
	}
	files := map[string]string{}
	for _, arg := range flags.Args() {
		host, inImage, found := strings.Cut(arg, ":")
		if !found {
			inImage = "/" + filepath.Base(host)
		}
		files[inImage] = host
		if err := addLibraries(host, files); err != nil {
			return fmt.Errorf("%s: %w", host, err)
		}
	}
	archive, err := ociArchive(*name, *entrypoint, files)
	if err != nil {
		return err
	}
	ctr := exec.Command("ctr", "--address", *socket, "--namespace", "k8s.io",
		"images", "import", "--snapshotter", "native", "-")
	ctr.Stdin = bytes.NewReader(archive)
	if output, err := ctr.CombinedOutput(); err != nil {
		return fmt.Errorf("ctr images import: %v: %s", err, output)
	}
	return nil
}

// addLibraries adds the dynamic loader and the shared libraries `path` needs, found in
// the system's library directories; a file that is not a dynamic ELF needs none.
func addLibraries(path string, files map[string]string) error {
	binary, err := elf.Open(path)
	if err != nil {
		return nil
	}
	defer binary.Close()
	for _, program := range binary.Progs {
		if program.Type == elf.PT_INTERP {
			interpreter, err := io.ReadAll(program.Open())
			if err != nil {
				return err
			}
			loader := strings.TrimRight(string(interpreter), "\x00")
			files[loader] = loader
		}
	}
	needed, err := binary.ImportedLibraries()
	if err != nil {
		return err
	}
	for _, library := range needed {
		found := ""
		for _, dir := range []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"} {
			if _, err := os.Stat(filepath.Join(dir, library)); err == nil {
				found = filepath.Join(dir, library)
				break
			}
		}
		if found == "" {
			return fmt.Errorf("shared library %s not found", library)
		}
		if _, done := files[found]; !done {
			files[found] = found
			if err := addLibraries(found, files); err != nil {
				return err
			}
		}
	}
	return nil
}

// ociArchive is an OCI image layout as one tar stream: one uncompressed layer holding
// `files` (image path → host path), its config and manifest, and an index naming it.
func ociArchive(name, entrypoint string, files map[string]string) ([]byte, error) {
	var layer bytes.Buffer
	writer := tar.NewWriter(&layer)
	dirs := map[string]bool{}
	for inImage := range files {
		for dir := filepath.Dir(inImage); dir != "/" && !dirs[dir]; dir = filepath.Dir(dir) {
			dirs[dir] = true
		}
	}
	for _, dir := range sortedKeys(dirs) {
		header := &tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(dir, "/") + "/", Mode: 0o755}
		if err := writer.WriteHeader(header); err != nil {
			return nil, err
		}
	}
	for _, inImage := range sortedKeys(files) {
		data, err := os.ReadFile(files[inImage])
		if err != nil {
			return nil, err
		}
		header := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(inImage, "/"), Mode: 0o755, Size: int64(len(data))}
		if err := writer.WriteHeader(header); err != nil {
			return nil, err
		}
		if _, err := writer.Write(data); err != nil {
			return nil, err
		}
	}
	if err := writer.Close(); err != nil {
		return nil, err
	}
	layerDigest := digest(layer.Bytes())
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Entrypoint": []string{entrypoint}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        descriptor("application/vnd.oci.image.config.v1+json", config),
		"layers":        []any{descriptor("application/vnd.oci.image.layer.v1.tar", layer.Bytes())},
	})
	manifestDescriptor := descriptor("application/vnd.oci.image.manifest.v1+json", manifest)
	manifestDescriptor["annotations"] = map[string]string{
		"io.containerd.image.name":          name,
		"org.opencontainers.image.ref.name": name[strings.LastIndex(name, ":")+1:],
	}
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"manifests":     []any{manifestDescriptor},
	})

	var archive bytes.Buffer
	out := tar.NewWriter(&archive)
	add := func(path string, data []byte) error {
		if err := out.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path, Mode: 0o644, Size: int64(len(data))}); err != nil {
			return err
		}
		_, err := out.Write(data)
		return err
	}
	for _, blob := range [][]byte{layer.Bytes(), config, manifest} {
		if err := add("blobs/sha256/"+strings.TrimPrefix(digest(blob), "sha256:"), blob); err != nil {
			return nil, err
		}
	}
	if err := add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return nil, err
	}
	if err := add("index.json", index); err != nil {
		return nil, err
	}
	if err := out.Close(); err != nil {
		return nil, err
	}
	return archive.Bytes(), nil
}

func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func descriptor(mediaType string, data []byte) map[string]any {
	return map[string]any{"mediaType": mediaType, "digest": digest(data), "size": len(data)}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys
}

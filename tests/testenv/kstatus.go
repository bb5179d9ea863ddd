package main

import (
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// kstatus reads one object as JSON on standard input (e.g. `kubectl get -o json`) and
// prints the verdict of the kstatus library that Flux, cli-utils and `kubectl` tooling
// use: "<Current|InProgress|Failed|...>\t<message>".
func kstatus() error {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	// Decoded as the API machinery does (integers stay integers).
	object := &unstructured.Unstructured{}
	if err := object.UnmarshalJSON(input); err != nil {
		return fmt.Errorf("decoding the object: %w", err)
	}
	result, err := status.Compute(object)
	if err != nil {
		return err
	}
	fmt.Printf("%s\t%s\n", result.Status, result.Message)
	return nil
}

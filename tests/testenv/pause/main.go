// Command pause is the sandbox ("pause") container of the local node's pods: it holds
// the pod's namespaces, reaps orphans and exits on SIGINT or SIGTERM. Kubernetes' own is
// a C program in a registry image this machine cannot pull; this does the same.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for received := range signals {
		if received != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}

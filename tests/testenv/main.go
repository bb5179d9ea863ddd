// Command testenv runs a real Kubernetes control plane on loopback for ecsfleet's
// end-to-end tests: etcd (embedded from go.etcd.io/etcd/server/v3/embed), kube-apiserver
// and kube-controller-manager (garbage collector and namespace controllers), all built
// from Kubernetes' own Go modules, with RBAC authorization, its own certificates and
// service-account keys, and an admin kubeconfig. It also is kubectl (k8s.io/kubectl),
// and with `up --node` kube-scheduler, kubelet and kube-proxy, so that pods run.
//
// Usage:
//
//	testenv up --dir DIR [--crds PATH] [--node]
//	                       start everything (installing the CRDs at PATH before the
//	                       controller manager starts); write DIR/kubeconfig (admin),
//	                       DIR/pids and DIR/ready; run until SIGTERM or SIGINT, then
//	                       stop every process it started. --node: also a node where
//	                       pods run (containerd, kubelet, kube-proxy, kube-scheduler;
//	                       see nodes.go), ready once the node is
//	testenv image --containerd SOCK --name REF --entrypoint PATH FILE[:PATH]...
//	                       an OCI image of local files (and the shared libraries they
//	                       need), imported into the node's containerd
//	testenv kubectl ARGS   the real kubectl (also when invoked through a link named kubectl)
//	testenv kstatus        the kstatus verdict (sigs.k8s.io/cli-utils) of the object
//	                       given as JSON on standard input
//	testenv argocd-health SCRIPT
//	                       an Argo CD Lua health check run with gopher-lua on the
//	                       object given as JSON on standard input
//
// The components run as child processes of `up` (each installs its own signal handler,
// so they cannot share one process); the children die with the parent (Pdeathsig).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/component-base/cli"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	role := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if role != "kubectl" {
		if len(args) == 0 {
			usage()
		}
		role, args = args[0], args[1:]
	}
	switch role {
	case "up":
		if err := up(args); err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
			os.Exit(1)
		}
	case "etcd":
		if err := runEtcd(args); err != nil {
			fmt.Fprintln(os.Stderr, "testenv etcd:", err)
			os.Exit(1)
		}
	case "kube-apiserver":
		runComponent(apiserver.NewAPIServerCommand(), args)
	case "kube-controller-manager":
		runComponent(controllermanager.NewControllerManagerCommand(), args)
	case "kstatus":
		if err := kstatus(); err != nil {
			fmt.Fprintln(os.Stderr, "testenv kstatus:", err)
			os.Exit(1)
		}
	case "argocd-health":
		if len(args) != 1 {
			usage()
		}
		if err := argocdHealth(args[0]); err != nil {
			fmt.Fprintln(os.Stderr, "testenv argocd-health:", err)
			os.Exit(1)
		}
	case "image":
		if err := image(args); err != nil {
			fmt.Fprintln(os.Stderr, "testenv image:", err)
			os.Exit(1)
		}
	case "kubectl":
		command := kubectlcmd.NewDefaultKubectlCommand()
		command.SetArgs(args)
		if err := cli.RunNoErrOutput(command); err != nil {
			kubectlutil.CheckErr(err)
		}
	default:
		if !runNodeComponent(role, args) {
			usage()
		}
	}
}

func runComponent(command interface {
	SetArgs([]string)
	Execute() error
}, args []string) {
	command.SetArgs(args)
	if err := command.Execute(); err != nil {
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: testenv up --dir DIR [--crds PATH] [--node] | testenv image ... | testenv kubectl ARGS... | testenv kstatus < object.json | testenv argocd-health SCRIPT < object.json")
	os.Exit(2)
}

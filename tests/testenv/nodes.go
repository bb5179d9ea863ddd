package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

// The node (`up --node`): pods run for real. kube-scheduler, kubelet and kube-proxy come
// from Kubernetes' Go modules like the control plane; containerd, runc, the CNI plugins
// and iptables are the distribution's (scripts/node-install). The API server listens on
// nodeAddress, an address of the loopback interface that pods reach through the CNI
// bridge's gateway and the `kubernetes` Service (kube-proxy); nothing outside this
// machine routes to it.
const (
	nodeAddress = "10.250.0.1"
	nodeName    = "testenv-node"
	podSubnet   = "10.244.0.0/24"
	// The sandbox image, built from tests/testenv/pause.
	pauseImage = "ecsfleet.test/pause:1"
)

func runNodeComponent(role string, args []string) bool {
	switch role {
	case "kubelet":
		runComponent(kubelet.NewKubeletCommand(context.Background()), args)
	case "kube-scheduler":
		runComponent(scheduler.NewSchedulerCommand(), args)
	case "kube-proxy":
		runComponent(proxy.NewProxyCommand(), args)
	default:
		return false
	}
	return true
}

// addNodeAddress puts nodeAddress on the loopback interface (kept if already there).
func addNodeAddress() error {
	output, err := exec.Command("ip", "address", "add", nodeAddress+"/32", "dev", "lo").CombinedOutput()
	if err != nil && !strings.Contains(string(output), "File exists") && !strings.Contains(string(output), "already assigned") {
		return fmt.Errorf("ip address add %s: %v: %s", nodeAddress, err, output)
	}
	return nil
}

// startNode starts containerd, imports the pause image, then kube-scheduler, kubelet and
// kube-proxy, and waits until the node is Ready.
func (p *controlPlane) startNode(adminConfig string) error {
	dir := filepath.Join(p.dir, "node")
	cni := filepath.Join(dir, "cni")
	if err := os.MkdirAll(cni, 0o700); err != nil {
		return err
	}
	socket := filepath.Join(dir, "containerd.sock")
	containerdConfig := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing"]
[grpc]
  address = %[3]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[4]q
  # This machine does not let even root lower a process's OOM score (no
  # CAP_SYS_RESOURCE); the kubelet asks -998 for sandboxes.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[5]q
`, filepath.Join(dir, "containerd"), filepath.Join(dir, "containerd-state"), socket, pauseImage, cni)
	bridge := fmt.Sprintf(`{"cniVersion": "0.4.0", "name": "testenv", "plugins": [
  {"type": "bridge", "bridge": "testenv0", "isGateway": true, "ipMasq": true,
   "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
`, filepath.Join(dir, "ipam"), podSubnet)
	kubeletConfig := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
port: %d
readOnlyPort: 0
healthzPort: 0
# kubectl logs and exec go through the API server to this port; it is on the node's
# address, which only this machine reaches.
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
containerRuntimeEndpoint: unix://%s
failSwapOn: false
protectKernelDefaults: false
resolvConf: ""
evictionHard: {memory.available: "0%%", nodefs.available: "0%%", imagefs.available: "0%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
syncFrequency: 5s
podLogsDir: %s
# No firewall chains of the kubelet's own on this machine's iptables (kube-proxy's are
# removed when the node stops).
makeIPTablesUtilChains: false
`, nodeAddress, freePortOrZero(), socket, filepath.Join(dir, "pod-logs"))
	proxyConfig := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: %q}
mode: iptables
hostnameOverride: %s
clusterCIDR: %s
metricsBindAddress: "127.0.0.1:%d"
healthzBindAddress: ""
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
# NodePorts on the node's address only: none on localhost, so no rule of kube-proxy's
# touches this machine's loopback traffic.
nodePortAddresses: [%s/32]
iptables: {localhostNodePorts: false}
`, adminConfig, nodeName, podSubnet, freePortOrZero(), nodeAddress)
	for name, content := range map[string]string{
		"containerd.toml":        containerdConfig,
		"cni/10-bridge.conflist": bridge,
		"kubelet.yaml":           kubeletConfig,
		"kube-proxy.yaml":        proxyConfig,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return err
		}
	}

	if err := p.spawnProgram("containerd", "containerd", "--config", filepath.Join(dir, "containerd.toml")); err != nil {
		return err
	}
	if err := waitFor(func() bool {
		connection, err := net.DialTimeout("unix", socket, time.Second)
		if err == nil {
			connection.Close()
		}
		return err == nil
	}, 30*time.Second); err != nil {
		return fmt.Errorf("containerd: %w (see %s)", err, p.log("containerd"))
	}
	pause := filepath.Join(filepath.Dir(p.self), "pause")
	if err := image([]string{"--containerd", socket, "--name", pauseImage, "--entrypoint", "/pause", pause}); err != nil {
		return fmt.Errorf("the pause image: %w", err)
	}
	if err := p.spawn("kube-scheduler",
		"--kubeconfig="+adminConfig,
		"--authentication-kubeconfig="+adminConfig,
		"--authorization-kubeconfig="+adminConfig,
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--leader-elect=false",
		"--v=1"); err != nil {
		return err
	}
	if err := p.spawn("kubelet",
		"--config="+filepath.Join(dir, "kubelet.yaml"),
		"--kubeconfig="+adminConfig,
		"--root-dir="+filepath.Join(dir, "kubelet"),
		"--cert-dir="+filepath.Join(dir, "kubelet-pki"),
		"--hostname-override="+nodeName,
		"--node-ip="+nodeAddress,
		"--v=1"); err != nil {
		return err
	}
	if err := p.spawn("kube-proxy", "--config="+filepath.Join(dir, "kube-proxy.yaml"), "--v=1"); err != nil {
		return err
	}
	return waitFor(func() bool {
		output, err := exec.Command(p.self, "kubectl", "--kubeconfig", adminConfig, "get", "node", nodeName,
			"-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`).Output()
		return err == nil && string(output) == "True"
	}, 120*time.Second)
}

// removePods stops and removes every pod sandbox through containerd's CRI service (the
// kubelet is already stopped, so none comes back): their containers end and the CNI
// plugins release their addresses and rules, as on a drained node.
func (p *controlPlane) removePods() {
	socket := filepath.Join(p.dir, "node", "containerd.sock")
	connection, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv: removing pods:", err)
		return
	}
	defer connection.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := runtime.NewRuntimeServiceClient(connection)
	sandboxes, err := client.ListPodSandbox(ctx, &runtime.ListPodSandboxRequest{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv: removing pods:", err)
		return
	}
	for _, sandbox := range sandboxes.Items {
		if _, err := client.StopPodSandbox(ctx, &runtime.StopPodSandboxRequest{PodSandboxId: sandbox.Id}); err != nil {
			fmt.Fprintln(os.Stderr, "testenv: stopping pod", sandbox.Metadata.Name, err)
		}
		if _, err := client.RemovePodSandbox(ctx, &runtime.RemovePodSandboxRequest{PodSandboxId: sandbox.Id}); err != nil {
			fmt.Fprintln(os.Stderr, "testenv: removing pod", sandbox.Metadata.Name, err)
		}
	}
}

// cleanUpNode undoes what the node changed outside its directory once everything has
// stopped: kube-proxy's iptables rules and the API server's address. The CNI bridge
// (testenv0) stays, without addresses in use, for the next node.
func (p *controlPlane) cleanUpNode() {
	p.unmountNode()
	cleanup := exec.Command(p.self, "kube-proxy", "--cleanup",
		"--config="+filepath.Join(p.dir, "node", "kube-proxy.yaml"))
	if output, err := cleanup.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: kube-proxy --cleanup: %v: %s\n", err, output)
	}
	_ = exec.Command("ip", "address", "del", nodeAddress+"/32", "dev", "lo").Run()
}

// unmountNode releases what the kubelet and containerd mounted under the node's
// directory (volumes, sandbox files), deepest first, so that the directory can go.
func (p *controlPlane) unmountNode() {
	table, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	prefix := filepath.Join(p.dir, "node") + "/"
	var mounted []string
	for _, line := range strings.Split(string(table), "\n") {
		if fields := strings.Fields(line); len(fields) > 1 && strings.HasPrefix(fields[1], prefix) {
			mounted = append(mounted, fields[1])
		}
	}
	for i := len(mounted) - 1; i >= 0; i-- {
		_ = syscall.Unmount(mounted[i], syscall.MNT_DETACH)
	}
}

func freePortOrZero() int {
	ports, err := freePorts(1)
	if err != nil {
		return 0
	}
	return ports[0]
}

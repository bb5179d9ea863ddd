package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// up starts etcd, kube-apiserver and kube-controller-manager, writes the admin
// kubeconfig, DIR/pids (one process ID a line) and DIR/ready (the server URL), and
// stops them all on SIGTERM or SIGINT.
func up(args []string) error {
	flags := flag.NewFlagSet("up", flag.ExitOnError)
	dir := flags.String("dir", "", "working directory (certificates, etcd data, logs, kubeconfig)")
	crds := flags.String("crds", "", "CRDs to install before kube-controller-manager starts, so that its garbage collector knows them from the start")
	node := flags.Bool("node", false, "also run a node (containerd, kubelet, kube-proxy) and kube-scheduler, so that pods run")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("--dir is required")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	plane := &controlPlane{dir: *dir, self: self, crds: *crds, node: *node}
	defer plane.stop()
	if err := plane.start(); err != nil {
		return err
	}
	var pids []byte
	for _, process := range plane.processes {
		pids = fmt.Appendf(pids, "%d\n", process.Process.Pid)
	}
	if err := os.WriteFile(filepath.Join(*dir, "pids"), pids, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, "ready"), []byte(plane.server+"\n"), 0o600); err != nil {
		return err
	}
	fmt.Printf("testenv: control plane ready at %s; KUBECONFIG=%s\n", plane.server, filepath.Join(*dir, "kubeconfig"))
	select {
	case <-signals:
		return nil
	case failure := <-plane.exited:
		return failure
	}
}

type controlPlane struct {
	dir       string
	crds      string
	node      bool
	self      string
	server    string
	processes []*exec.Cmd
	names     []string
	exited    chan error
}

func (p *controlPlane) start() error {
	p.exited = make(chan error, 8)
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	address := "127.0.0.1"
	if p.node {
		if err := addNodeAddress(); err != nil {
			return err
		}
		address = nodeAddress
	}
	p.server = fmt.Sprintf("https://%s:%d", address, apiPort)

	ca, err := newAuthority()
	if err != nil {
		return err
	}
	pki := filepath.Join(p.dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return err
	}
	write := func(name string, data []byte) (string, error) {
		path := filepath.Join(pki, name)
		return path, os.WriteFile(path, data, 0o600)
	}
	caFile, err := write("ca.crt", ca.pem)
	if err != nil {
		return err
	}
	serving, servingKey, err := ca.issue(2, "kube-apiserver", nil,
		[]string{"127.0.0.1", nodeAddress, "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "10.0.0.1"})
	if err != nil {
		return err
	}
	servingFile, _ := write("apiserver.crt", serving)
	servingKeyFile, _ := write("apiserver.key", servingKey)
	admin, adminKey, err := ca.issue(3, "testenv-admin", []string{"system:masters"}, nil)
	if err != nil {
		return err
	}
	manager, managerKey, err := ca.issue(4, "system:kube-controller-manager", nil, nil)
	if err != nil {
		return err
	}
	saPrivate, saPublic, err := serviceAccountKeys(pki)
	if err != nil {
		return err
	}
	adminConfig := filepath.Join(p.dir, "kubeconfig")
	if err := writeKubeconfig(adminConfig, p.server, ca.pem, admin, adminKey); err != nil {
		return err
	}
	managerConfig := filepath.Join(pki, "controller-manager.kubeconfig")
	if err := writeKubeconfig(managerConfig, p.server, ca.pem, manager, managerKey); err != nil {
		return err
	}

	if err := p.spawn("etcd",
		"--dir", filepath.Join(p.dir, "etcd"),
		"--client-port", fmt.Sprint(etcdClient),
		"--peer-port", fmt.Sprint(etcdPeer)); err != nil {
		return err
	}
	if err := waitFor(func() bool { return dial(etcdClient) }, 60*time.Second); err != nil {
		return fmt.Errorf("etcd: %w (see %s)", err, p.log("etcd"))
	}
	if err := p.spawn("kube-apiserver",
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", etcdClient),
		"--bind-address="+address,
		"--advertise-address="+address,
		fmt.Sprintf("--secure-port=%d", apiPort),
		"--tls-cert-file="+servingFile,
		"--tls-private-key-file="+servingKeyFile,
		"--client-ca-file="+caFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+saPublic,
		"--service-account-signing-key-file="+saPrivate,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--cert-dir="+filepath.Join(p.dir, "apiserver"),
		"--kubelet-preferred-address-types=InternalIP",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--v=1"); err != nil {
		return err
	}
	if err := waitFor(func() bool { return p.ready(ca.pem, admin, adminKey) }, 120*time.Second); err != nil {
		return fmt.Errorf("kube-apiserver: %w (see %s)", err, p.log("kube-apiserver"))
	}
	if p.crds != "" {
		for _, args := range [][]string{
			{"apply", "-f", p.crds},
			{"wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"},
		} {
			kubectl := exec.Command(p.self, append([]string{"kubectl", "--kubeconfig", adminConfig}, args...)...)
			if output, err := kubectl.CombinedOutput(); err != nil {
				return fmt.Errorf("installing CRDs from %s: %v: %s", p.crds, err, output)
			}
		}
	}
	if !p.node {
		return p.spawn("kube-controller-manager",
			"--kubeconfig="+managerConfig,
			"--authentication-kubeconfig="+managerConfig,
			"--authorization-kubeconfig="+managerConfig,
			"--controllers=garbage-collector-controller,namespace-controller",
			"--bind-address=127.0.0.1",
			"--secure-port=0",
			"--leader-elect=false",
			"--v=1")
	}
	// Pods need Deployments and ReplicaSets rolled out, each namespace's CA bundle
	// (kube-root-ca.crt, mounted into every pod), its default ServiceAccount, and the
	// node's not-ready taint lifted once it is Ready (node lifecycle): those
	// controllers act for many service accounts, so they run as the admin.
	if err := p.spawn("kube-controller-manager",
		"--kubeconfig="+adminConfig,
		"--authentication-kubeconfig="+adminConfig,
		"--authorization-kubeconfig="+adminConfig,
		"--controllers=garbage-collector-controller,namespace-controller,deployment-controller,replicaset-controller,root-ca-certificate-publisher-controller,serviceaccount-controller,endpointslice-controller,node-lifecycle-controller",
		"--root-ca-file="+caFile,
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--leader-elect=false",
		"--v=1"); err != nil {
		return err
	}
	return p.startNode(adminConfig)
}

func (p *controlPlane) log(name string) string {
	return filepath.Join(p.dir, name+".log")
}

// spawn starts this binary in the role `name`; it dies with this process.
func (p *controlPlane) spawn(name string, args ...string) error {
	return p.spawnProgram(name, p.self, append([]string{name}, args...)...)
}

// spawnProgram starts `program` as the component `name`, logging to DIR/name.log; it
// dies with this process.
func (p *controlPlane) spawnProgram(name, program string, args ...string) error {
	log, err := os.Create(p.log(name))
	if err != nil {
		return err
	}
	command := exec.Command(program, args...)
	command.Stdout = log
	command.Stderr = log
	command.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := command.Start(); err != nil {
		return fmt.Errorf("%s: %w (is it installed?)", program, err)
	}
	p.processes = append(p.processes, command)
	p.names = append(p.names, name)
	go func() {
		err := command.Wait()
		p.exited <- fmt.Errorf("%s exited: %v (see %s)", name, err, p.log(name))
	}()
	return nil
}

// stop ends the components in reverse order: SIGTERM, then SIGKILL after 10 s. The
// node's pods are removed once the kubelet has stopped, before containerd does.
func (p *controlPlane) stop() {
	if p.node {
		defer p.cleanUpNode()
	}
	for i := len(p.processes) - 1; i >= 0; i-- {
		if p.names[i] == "containerd" {
			p.removePods()
		}
		process := p.processes[i].Process
		_ = process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() {
			for process.Signal(syscall.Signal(0)) == nil {
				time.Sleep(50 * time.Millisecond)
			}
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = process.Kill()
		}
	}
}

// ready asks the API server's /readyz as the admin.
func (p *controlPlane) ready(caPEM, certPEM, keyPEM []byte) bool {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	request, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.server+"/readyz", nil)
	response, err := client.Do(request)
	if err != nil {
		return false
	}
	defer response.Body.Close()
	return response.StatusCode == http.StatusOK
}

func writeKubeconfig(path, server string, caPEM, certPEM, keyPEM []byte) error {
	encode := base64.StdEncoding.EncodeToString
	config := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: testenv
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: testenv
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: testenv
  context: {cluster: testenv, user: testenv}
current-context: testenv
`, server, encode(caPEM), encode(certPEM), encode(keyPEM))
	return os.WriteFile(path, []byte(config), 0o600)
}

func freePorts(count int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for i := 0; i < count; i++ {
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, listener)
		ports = append(ports, listener.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func dial(port int) bool {
	connection, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return false
	}
	connection.Close()
	return true
}

func waitFor(condition func() bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !condition() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s", timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}

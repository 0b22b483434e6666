package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// moduleRoot walks up from the working directory to the folder holding
// go.mod, so that the command works from the repository root or below it.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in the working directory or above it: run from the repository")
		}
		dir = parent
	}
}

// buildBinaries builds the app and the baseline into out and returns their paths.
func buildBinaries(root, out string) (app, baseline string, err error) {
	app, baseline = filepath.Join(out, "authstarter"), filepath.Join(out, "baseline")
	for _, b := range []struct{ bin, pkg string }{{app, "."}, {baseline, "./bench/baseline"}} {
		cmd := exec.Command("go", "build", "-o", b.bin, b.pkg)
		cmd.Dir = root
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", "", fmt.Errorf("go build %s: %w", b.pkg, err)
		}
	}
	return app, baseline, nil
}

// freePort asks the kernel for a port nobody is listening on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// process is a server under test, running as a child process.
type process struct {
	name    string
	cmd     *exec.Cmd
	addr    string // 127.0.0.1:port
	logPath string
	started time.Time
	exited  chan struct{} // closed once the process has ended
}

// startProcess runs bin in dir with env added to ours, its output going to
// dir/<name>.log: the app logs every request, which would flood the terminal.
func startProcess(name, bin, dir string, port int, env []string, args ...string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p := &process{name: name, cmd: cmd, addr: fmt.Sprintf("127.0.0.1:%d", port), logPath: logPath, exited: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// waitReady polls path until it answers 200 and returns the time from the
// process start to that answer. The poll interval (1 ms) bounds its error.
func (p *process) waitReady(path string, timeout time.Duration) (time.Duration, error) {
	hc := newHostClient(p.addr, 1)
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return 0, fmt.Errorf("%s exited before it was ready: %s", p.name, p.logTail())
		default:
		}
		status, _, err := hc.GetTimeout(nil, "http://"+p.addr+path, time.Second)
		if err == nil && status == fasthttp.StatusOK {
			return time.Since(p.started), nil
		}
		time.Sleep(time.Millisecond)
	}
	return 0, fmt.Errorf("%s: no 200 from %s within %s: %s", p.name, path, timeout, p.logTail())
}

// logTail is the end of the process's log, for error messages.
func (p *process) logTail() string {
	data, _ := os.ReadFile(p.logPath)
	const keep = 2000
	if len(data) > keep {
		data = data[len(data)-keep:]
	}
	return fmt.Sprintf("log %s ends with:\n%s", p.logPath, data)
}

// stop asks the process to shut down (SIGTERM: the app closes its database
// cleanly) and kills it if it has not within 10 s.
func (p *process) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// memory is a reading of /proc/<pid>/status, in bytes.
type memory struct {
	RSS, HWM uint64 // resident set now, and its peak since the process started
}

func (p *process) memory() (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		// Lines such as "VmRSS:     23456 kB".
		key, value, _ := strings.Cut(scanner.Text(), ":")
		var field *uint64
		switch key {
		case "VmRSS":
			field = &m.RSS
		case "VmHWM":
			field = &m.HWM
		default:
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("/proc status %s: %w", key, err)
		}
		*field = kb << 10
	}
	if m.RSS == 0 {
		return memory{}, errors.New("no VmRSS in /proc status")
	}
	return m, scanner.Err()
}

// sampleMemory reads the process's memory every interval until the returned
// function is called, which returns the highest VmRSS seen and the last VmHWM.
func (p *process) sampleMemory(interval time.Duration) (stop func() memory) {
	var peak memory // the sampler's until it has finished, then the caller's
	record := func() {
		m, err := p.memory()
		if err != nil {
			return // the process is gone; what was sampled stands
		}
		peak.RSS = max(peak.RSS, m.RSS)
		peak.HWM = m.HWM
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			record()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() memory {
		close(done)
		<-finished
		record() // VmHWM now covers the whole burst, between samples too
		return peak
	}
}

// Package e2e runs Termflow's three real services (the binaries of
// `make build`) against a Kafka broker and a MongoDB server, and measures
// them from the outside, the way a user sees them: bulk requests over HTTP,
// operation states, /metrics, and each process's peak resident memory.
//
// Every Stack is isolated: its own topics, consumer groups, MongoDB database
// and Pebble directory, all named after a unique run id, so runs never see
// each other's data and an index always starts empty.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Services are the three Termflow services, in start order.
var Services = []string{"persister", "indexer", "ingest"}

// Config says where the binaries and the infrastructure are.
type Config struct {
	// BinDir holds termflow-ingest, termflow-indexer and termflow-persister.
	BinDir   string
	Brokers  string
	MongoURI string
	// WorkDir receives each stack's data and logs (a directory per run).
	WorkDir string
	// Partitions of the documents topic. The default value is 4.
	Partitions int
	// Env is added to every service's environment (KEY=value).
	Env []string
	// Shared names the processes of the broker and MongoDB server, by
	// name, whose CPU time the bench reports beside the services' (the
	// PID files of scripts/infra-up.sh; none for servers elsewhere).
	Shared map[string]int
}

// Stack is one running pipeline.
type Stack struct {
	ID   string
	HTTP string // ingest's address
	Dir  string

	cfg   Config
	env   []string
	ops   map[string]string // ops address per service (ingest: HTTP)
	procs map[string]*exec.Cmd
	logs  map[string]*os.File
	// exited receives each service's exit (cmd.Wait's error).
	exited map[string]chan error

	mu       sync.Mutex
	stopping bool
	died     chan struct{} // closed when a service exits before Stop
	death    error         // which service exited, how, and its log
}

// Start starts persister, indexer and ingest for a new run named id and
// waits until each is ready.
func Start(ctx context.Context, cfg Config, id string) (*Stack, error) {
	if cfg.Partitions <= 0 {
		cfg.Partitions = 4
	}
	dir := filepath.Join(cfg.WorkDir, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &Stack{ID: id, Dir: dir, cfg: cfg, ops: map[string]string{}, procs: map[string]*exec.Cmd{},
		logs: map[string]*os.File{}, exited: map[string]chan error{}, died: make(chan struct{})}
	s.env = append(os.Environ(),
		"KAFKA_BROKERS="+cfg.Brokers, "MONGO_URI="+cfg.MongoURI, "TERMFLOW_MONGO_DB="+id,
		"TERMFLOW_TOPIC_DOCUMENTS="+id+".documents", "TERMFLOW_TOPIC_DIRTY_TERMS="+id+".dirty-terms",
		"TERMFLOW_TOPIC_BULK_OPS="+id+".bulk-ops", "TERMFLOW_TOPIC_PROGRESS="+id+".progress",
		"TERMFLOW_TOPIC_DEAD_LETTER="+id+".dlq", "TERMFLOW_DOCUMENTS_PARTITIONS="+strconv.Itoa(cfg.Partitions),
		"TERMFLOW_INDEXER_GROUP="+id+"-indexer", "TERMFLOW_PERSISTER_GROUP="+id+"-persister",
		"TERMFLOW_INGEST_GROUP="+id+"-ingest", "TERMFLOW_DATA_DIR="+filepath.Join(dir, "data"),
		"TERMFLOW_LOG_LEVEL=info", "TERMFLOW_PPROF=on",
		"TERMFLOW_AUTH=off") // the benchmark measures the pipeline; auth is tested in tools/e2e
	s.env = append(s.env, cfg.Env...)
	for _, name := range Services {
		if err := s.start(ctx, name); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (s *Stack) start(ctx context.Context, name string) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	s.ops[name] = addr
	env := append([]string(nil), s.env...)
	if name == "ingest" {
		s.HTTP = addr
		env = append(env, "TERMFLOW_HTTP_ADDR="+addr)
	} else {
		env = append(env, "TERMFLOW_OPS_ADDR="+addr)
	}
	bin := filepath.Join(s.cfg.BinDir, "termflow-"+name)
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s: %w (run `make build` first)", bin, err)
	}
	logf, err := os.Create(filepath.Join(s.Dir, name+".log"))
	if err != nil {
		return err
	}
	s.logs[name] = logf
	cmd := exec.Command(bin)
	cmd.Env = env
	// A service never outlives the benchmark that started it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	s.procs[name] = cmd
	exited := make(chan error, 1)
	s.exited[name] = exited
	go s.watch(name, cmd, exited)
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 90s (last: %v); log %s:\n%s", name, err, logf.Name(), s.LogTail(name))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.died:
			return s.Died()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// watch waits for a service's process to exit and, unless the stack is
// stopping, records it as the stack's death.
func (s *Stack) watch(name string, cmd *exec.Cmd, exited chan<- error) {
	err := cmd.Wait()
	s.mu.Lock()
	if !s.stopping && s.death == nil {
		if err == nil {
			err = errors.New("exit status 0")
		}
		s.death = fmt.Errorf("%s exited during the run (%v); the end of its log:\n%s", name, err, s.LogTail(name))
		close(s.died)
	}
	s.mu.Unlock()
	exited <- err
}

// Watch returns a context that is cancelled when a service exits before
// Stop, so that a load waiting for progress a dead service cannot make fails
// at once; Died then says which service it was. Call the returned function
// when done.
func (s *Stack) Watch(ctx context.Context) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-s.died:
			cancel()
		case <-wctx.Done():
		}
	}()
	return wctx, cancel
}

// Died returns the exit of a service that stopped before Stop (with the end
// of its log), or nil.
func (s *Stack) Died() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.death
}

// LogTail is the end of a service's log.
func (s *Stack) LogTail(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, name+".log"))
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// OpsAddr is the address serving a service's /metrics and /debug/pprof.
func (s *Stack) OpsAddr(name string) string { return s.ops[name] }

// PID is a service's process id.
func (s *Stack) PID(name string) int {
	if c := s.procs[name]; c != nil && c.Process != nil {
		return c.Process.Pid
	}
	return 0
}

// PeakRSS returns each running service's peak resident set size in bytes
// (VmHWM of /proc/PID/status: the high-water mark since the process
// started).
func (s *Stack) PeakRSS() (map[string]int64, error) {
	out := map[string]int64{}
	for name := range s.procs {
		v, err := peakRSS(s.PID(name))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}

func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest) // "123456 kB"
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// CPUSeconds returns the CPU time of the services and of cfg.Shared's
// processes so far, in seconds, by name; a process that cannot be read is
// left out.
func (s *Stack) CPUSeconds() map[string]float64 {
	out := map[string]float64{}
	pids := maps.Clone(s.cfg.Shared)
	if pids == nil {
		pids = map[string]int{}
	}
	for name := range s.procs {
		pids[name] = s.PID(name)
	}
	for name, pid := range pids {
		if v, err := cpuSeconds(pid); err == nil {
			out[name] = v
		}
	}
	return out
}

// userHZ is the unit of /proc's CPU times: the kernel's USER_HZ, 100 on
// every architecture Linux runs this on.
const userHZ = 100

// cpuSeconds is the user and system time of every thread of process pid
// (fields 14 and 15 of /proc/PID/stat).
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no command name in /proc stat")
	}
	f := strings.Fields(string(b[i+1:])) // from field 3, the state
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return float64(utime+stime) / userHZ, nil
}

// SharedPIDs reads the PID files scripts/infra-up.sh leaves in infraDir
// (ferretdb/pid, kafka/pid) and returns the live ones.
func SharedPIDs(infraDir string) map[string]int {
	out := map[string]int{}
	for _, name := range []string{"ferretdb", "kafka"} {
		b, err := os.ReadFile(filepath.Join(infraDir, name, "pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			continue
		}
		if _, err := cpuSeconds(pid); err == nil {
			out[name] = pid
		}
	}
	return out
}

// Profile writes a CPU profile of a service over d to path.
func (s *Stack) Profile(ctx context.Context, name string, d time.Duration, path string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.ops[name], int(d.Seconds()))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("profile %s: %s: %s", name, resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Stop stops every service gracefully (SIGINT, then SIGKILL after 60s).
func (s *Stack) Stop() error {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	var errs []error
	for i := len(Services) - 1; i >= 0; i-- {
		name := Services[i]
		cmd := s.procs[name]
		if cmd == nil {
			continue
		}
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := s.exited[name]
		select {
		case err := <-done:
			if err != nil {
				errs = append(errs, fmt.Errorf("%s exited with %v", name, err))
			}
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			errs = append(errs, fmt.Errorf("%s did not stop within 60s", name))
		}
		delete(s.procs, name)
		if f := s.logs[name]; f != nil {
			f.Close()
		}
	}
	return errors.Join(errs...)
}

// Settle waits until the processes in pids (the broker and the MongoDB
// server) together use less than idleCores of CPU over a half-second window,
// or until limit has passed. It returns how long it waited and whether they
// settled. Deleting a finished stack's topics and database keeps them busy
// for a moment after the stack stops; a measurement started then would pay
// for it.
func Settle(ctx context.Context, pids map[string]int, idleCores float64, limit time.Duration) (time.Duration, bool) {
	const window = 500 * time.Millisecond
	start := time.Now()
	total := func() float64 {
		sum := 0.0
		for _, pid := range pids {
			if v, err := cpuSeconds(pid); err == nil {
				sum += v
			}
		}
		return sum
	}
	for {
		before := total()
		select {
		case <-ctx.Done():
			return time.Since(start), false
		case <-time.After(window):
		}
		if (total()-before)/window.Seconds() < idleCores {
			return time.Since(start), true
		}
		if time.Since(start) >= limit {
			return time.Since(start), false
		}
	}
}

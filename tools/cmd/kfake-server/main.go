// Command termflow-kfake runs franz-go's kfake as a single-broker Kafka for
// `make run`, keeping its data in a directory so a restart resumes.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:9092", "address to listen on")
	dir := flag.String("data-dir", "./data/kafka", "directory that keeps the topics across restarts")
	flag.Parse()
	if err := run(*addr, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "termflow-kfake:", err)
		os.Exit(1)
	}
}

func run(addr, dir string) error {
	i := strings.LastIndexByte(addr, ':')
	port, err := strconv.Atoi(addr[i+1:])
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	c, err := kfake.NewCluster(kfake.Ports(port), kfake.DataDir(dir), kfake.SyncWrites())
	if err != nil {
		return fmt.Errorf("start kfake: %w", err)
	}
	fmt.Printf("kafka (kfake) listening on %s, data in %s\n", addr, dir)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	c.Close()
	return nil
}

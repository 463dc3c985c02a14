package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The load generator shares the CPUs with the server, and other programs may
// run on the machine too; the CPU time each used during a measured window
// tells whether a figure is the server's limit or the machine's.

// userHZ is the unit of /proc CPU times; it is 100 on every Linux build.
const userHZ = 100

// cpuSnapshot holds cumulative CPU times in userHZ ticks.
type cpuSnapshot struct {
	at     time.Time
	busy   int64 // the whole machine, idle and iowait excluded
	self   int64 // this process
	server int64 // the server process, when there is one
}

// cpuUse is the CPU used in a window, in percent of one core.
type cpuUse struct {
	known                bool
	self, server, others float64
}

// takeCPU reads the machine's and the processes' CPU times; serverPid 0
// means no separate server.
func takeCPU(serverPid int) (cpuSnapshot, error) {
	s := cpuSnapshot{at: time.Now()}
	var err error
	if s.busy, err = machineBusy(); err != nil {
		return s, err
	}
	if s.self, err = processTicks("self"); err != nil {
		return s, err
	}
	if serverPid != 0 {
		s.server, err = processTicks(strconv.Itoa(serverPid))
	}
	return s, err
}

// use turns two snapshots into percentages of one core.
func (a cpuSnapshot) use(b cpuSnapshot) cpuUse {
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 {
		return cpuUse{}
	}
	pct := func(ticks int64) float64 { return float64(ticks) * 100 / userHZ / secs }
	u := cpuUse{known: true, self: pct(b.self - a.self), server: pct(b.server - a.server)}
	u.others = max(pct(b.busy-a.busy)-u.self-u.server, 0)
	return u
}

func (u cpuUse) String() string {
	if !u.known {
		return "CPU use unknown"
	}
	s := fmt.Sprintf("CPU (%% of one core, %d cores): ", ncpu())
	if u.server > 0 {
		s += fmt.Sprintf("server %.0f%%, load generator %.0f%%", u.server, u.self)
	} else {
		s += fmt.Sprintf("this process %.0f%%", u.self)
	}
	s += fmt.Sprintf(", other processes %.0f%%", u.others)
	if u.others > 20 {
		s += "  <- the machine was not quiet; these figures understate"
	}
	return s
}

// machineBusy sums the non-idle fields of /proc/stat's "cpu" line.
func machineBusy() (int64, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("read /proc/stat: %w", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0, fmt.Errorf("read /proc/stat: unexpected first line %q", line)
	}
	var busy int64
	// user nice system idle iowait irq softirq steal; guest time is already
	// inside user and nice.
	for i, f := range fields[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read /proc/stat: %q: %w", line, err)
		}
		busy += n
	}
	return busy, nil
}

// processTicks returns a process's user+system time (all its threads).
func processTicks(pid string) (int64, error) {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read CPU time of %s: %w", pid, err)
	}
	// The command name, in parentheses, may hold spaces; fields count from
	// after it: state is field 3, utime 14, stime 15.
	i := strings.LastIndexByte(string(data), ')')
	fields := strings.Fields(string(data[i+1:]))
	if i < 0 || len(fields) < 13 {
		return 0, fmt.Errorf("read CPU time of %s: unexpected /proc stat", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("read CPU time of %s: bad utime/stime %q %q", pid, fields[11], fields[12])
	}
	return utime + stime, nil
}

func ncpu() int { return runtime.NumCPU() }

// watchCPU samples CPU times at start and at end in the background; wait
// returns the use in between, or an unknown use if a sample failed or ctx
// ended first.
func watchCPU(ctx context.Context, serverPid int, start, end time.Time) (wait func() cpuUse) {
	done := make(chan cpuUse, 1)
	go func() {
		var a, b cpuSnapshot
		var err error
		if sleepUntil(ctx, start) {
			a, err = takeCPU(serverPid)
		}
		if err == nil && sleepUntil(ctx, end) {
			if b, err = takeCPU(serverPid); err == nil {
				done <- a.use(b)
				return
			}
		}
		done <- cpuUse{}
	}()
	return func() cpuUse { return <-done }
}

// sleepUntil waits until t; it returns false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

//go:build linux

package epoll

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The system calls a loop makes on its non-blocking descriptors never
// block, so they are made raw: without telling Go's scheduler that the
// thread enters a system call. A call made the ordinary way lets the
// runtime's monitor hand the goroutine's P to another thread when the
// call takes a little while (a write on loopback runs the receiver's TCP
// processing too), and on a busy machine that costs a futex wake-up and
// two context switches; it also keeps the monitor polling every 20us.

// rawRead reads from the non-blocking descriptor fd.
func rawRead(fd int, p []byte) (int, error) { return rawIO(unix.SYS_READ, fd, p) }

// rawWrite writes to the non-blocking descriptor fd.
func rawWrite(fd int, p []byte) (int, error) { return rawIO(unix.SYS_WRITE, fd, p) }

// rawIO makes the read or write system call trap on fd with p.
func rawIO(trap uintptr, fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// pollEvents returns the events epfd has ready now, without waiting.
func pollEvents(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

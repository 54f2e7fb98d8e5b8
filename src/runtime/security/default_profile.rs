//! containers' default seccomp profile (the `seccomp.json` Podman installs with
//! containers-common), as coracle's own tables: an allow-list, everything else failing with
//! `ENOSYS` (so that programs and C libraries fall back from system calls they do not know
//! are there, e.g. `clone3`), a list that fails with `EPERM`, and rules that depend on the
//! container's capabilities (its bounding set) and on the architecture.
//!
//! The test `the_default_profile_decides_as_containers_json` checks every system call number
//! against the installed `/usr/share/containers/seccomp.json` where there is one.

use caps::Capability;

use super::CapMask;
use super::profile::{Action, ArgCmp, CmpOp, Filter, Profile, Rule};

/// Allowed for every container. (Names unknown on the running architecture are skipped.)
#[rustfmt::skip]
const ALLOWED: &[&str] = &[
    "_llseek", "_newselect", "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk",
    "capget", "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "clone", "clone3", "close", "close_range", "connect",
    "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1",
    "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old",
    "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2",
    "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat",
    "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr",
    "flock", "fork", "fremovexattr", "fsconfig", "fsetxattr", "fsmount", "fsopen", "fspick",
    "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64",
    "futex", "futex_time64", "futimesat", "get_mempolicy", "get_robust_list", "get_thread_area",
    "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32",
    "getgid", "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid",
    "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresgid32",
    "getresuid", "getresuid32", "getrlimit", "getrusage", "getsid", "getsockname", "getsockopt",
    "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch",
    "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy",
    "io_getevents", "io_setup", "io_submit", "ioctl", "ioprio_get", "ioprio_set", "ipc", "keyctl",
    "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
    "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "mbind", "membarrier",
    "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock",
    "mlock2", "mlockall", "mmap", "mmap2", "mount", "mount_setattr", "move_mount", "mprotect",
    "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
    "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv",
    "msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep",
    "newfstatat", "open", "open_tree", "openat", "openat2", "pause", "pidfd_getfd", "pidfd_open",
    "pidfd_send_signal", "pipe", "pipe2", "pivot_root", "pkey_alloc", "pkey_free",
    "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
    "prlimit64", "process_mrelease", "process_vm_readv", "process_vm_writev", "pselect6",
    "pselect6_time64", "ptrace", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
    "readdir", "readlink", "readlinkat", "readv", "reboot", "recv", "recvfrom", "recvmmsg",
    "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat",
    "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
    "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam",
    "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
    "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
    "seccomp", "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
    "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "set_mempolicy", "set_robust_list",
    "set_thread_area", "set_tid_address", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32",
    "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setns", "setpgid",
    "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
    "setresuid32", "setreuid", "setreuid32", "setrlimit", "setsid", "setsockopt", "setuid",
    "setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaction",
    "sigaltstack", "signal", "signalfd", "signalfd4", "sigpending", "sigprocmask", "sigreturn",
    "sigsuspend", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64",
    "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "syscall", "sysinfo",
    "syslog", "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun",
    "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd",
    "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
    "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask",
    "umount", "umount2", "uname", "unlink", "unlinkat", "unshare", "utime", "utimensat",
    "utimensat_time64", "utimes", "vfork", "wait4", "waitid", "waitpid", "write", "writev",
];

/// Obsolete, or able to disturb the host: `EPERM`, whatever the capabilities.
#[rustfmt::skip]
const DENIED: &[&str] = &[
    "bdflush", "io_pgetevents", "kexec_file_load", "kexec_load", "migrate_pages", "move_pages",
    "nfsservctl", "nice", "oldfstat", "oldlstat", "oldolduname", "oldstat", "olduname",
    "pciconfig_iobase", "pciconfig_read", "pciconfig_write", "sgetmask", "ssetmask",
    "swapcontext", "swapoff", "swapon", "sysfs", "uselib", "userfaultfd", "ustat", "vm86",
    "vm86old", "vmsplice",
];

/// Allowed with the capability, else `EPERM`.
#[rustfmt::skip]
const BY_CAPABILITY: &[(Capability, &[&str])] = &[
    (Capability::CAP_DAC_READ_SEARCH, &["open_by_handle_at"]),
    (
        Capability::CAP_SYS_ADMIN,
        &[
            "bpf", "fanotify_init", "lookup_dcookie", "perf_event_open", "quotactl",
            "setdomainname", "sethostname", "setns",
        ],
    ),
    (Capability::CAP_SYS_CHROOT, &["chroot"]),
    (
        Capability::CAP_SYS_MODULE,
        &["delete_module", "finit_module", "init_module", "query_module"],
    ),
    (Capability::CAP_SYS_PACCT, &["acct"]),
    (Capability::CAP_SYS_PTRACE, &["kcmp", "process_madvise"]),
    (Capability::CAP_SYS_RAWIO, &["ioperm", "iopl"]),
    (
        Capability::CAP_SYS_TIME,
        &["clock_settime", "clock_settime64", "settimeofday", "stime"],
    ),
    (Capability::CAP_SYS_TTY_CONFIG, &["vhangup"]),
];

/// Allowed on these (Go) architectures only.
#[rustfmt::skip]
const BY_ARCH: &[(&[&str], &[&str])] = &[
    (&["ppc64le"], &["sync_file_range2"]),
    (
        &["arm", "arm64"],
        &[
            "arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush", "set_tls",
            "sync_file_range2",
        ],
    ),
    (&["amd64", "x32"], &["arch_prctl"]),
    (&["amd64", "x32", "x86"], &["modify_ldt"]),
    (
        &["s390", "s390x"],
        &["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"],
    ),
];

/// `personality(2)` with these personas only (PER_LINUX, PER_LINUX32, UNAME26,
/// UNAME26|PER_LINUX32, and 0xffffffff which only queries).
const PERSONAS: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

const AF_NETLINK: u64 = 16;
const NETLINK_AUDIT: u64 = 9;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn rule(list: &[&str], action: Action) -> Rule {
    Rule {
        names: names(list),
        action,
        args: Vec::new(),
        includes: Filter::default(),
        excludes: Filter::default(),
    }
}

fn eq(index: u8, value: u64) -> ArgCmp {
    ArgCmp {
        index,
        op: CmpOp::Eq,
        value,
        value_two: 0,
    }
}

fn ne(index: u8, value: u64) -> ArgCmp {
    ArgCmp {
        op: CmpOp::Ne,
        ..eq(index, value)
    }
}

fn caps(c: Capability) -> Filter {
    Filter {
        caps: [c].into_iter().collect::<CapMask>(),
        ..Filter::default()
    }
}

/// The profile.
pub fn profile() -> Profile {
    let eperm = Action::Errno(libc::EPERM as u16);
    let mut rules = vec![rule(DENIED, eperm), rule(ALLOWED, Action::Allow)];
    for persona in PERSONAS {
        rules.push(Rule {
            args: vec![eq(0, persona)],
            ..rule(&["personality"], Action::Allow)
        });
    }
    for (arches, list) in BY_ARCH {
        rules.push(Rule {
            includes: Filter {
                arches: names(arches),
                ..Filter::default()
            },
            ..rule(list, Action::Allow)
        });
    }
    for (cap, list) in BY_CAPABILITY {
        rules.push(Rule {
            includes: caps(*cap),
            ..rule(list, Action::Allow)
        });
        rules.push(Rule {
            excludes: caps(*cap),
            ..rule(list, eperm)
        });
    }
    // Audit sockets need CAP_AUDIT_WRITE: without it, socket(AF_NETLINK, _, NETLINK_AUDIT)
    // fails with EINVAL (as if the kernel had no audit), every other socket is allowed.
    let audit = caps(Capability::CAP_AUDIT_WRITE);
    rules.push(Rule {
        args: vec![eq(0, AF_NETLINK), eq(2, NETLINK_AUDIT)],
        excludes: audit.clone(),
        ..rule(&["socket"], Action::Errno(libc::EINVAL as u16))
    });
    for arg in [ne(2, NETLINK_AUDIT), ne(0, AF_NETLINK)] {
        rules.push(Rule {
            args: vec![arg],
            excludes: audit.clone(),
            ..rule(&["socket"], Action::Allow)
        });
    }
    rules.push(Rule {
        includes: audit,
        ..rule(&["socket"], Action::Allow)
    });
    Profile {
        default_action: Action::Errno(libc::ENOSYS as u16),
        architectures: Vec::new(),
        syscalls: rules,
    }
}

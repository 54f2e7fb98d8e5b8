//! A seccomp [`Profile`] compiled to one classic BPF program for the running architecture
//! (seccomp(2), "Filters"), without libseccomp.
//!
//! The program checks the architecture (any other, and the x32 ABI on x86_64, gets `ENOSYS`:
//! its system call numbers are not the ones the rules name), then compares the system call
//! number with each system call that has rules, in number order. A system call's rules are
//! tried in the profile's order and the first whose argument comparisons all hold decides;
//! none holding, or a system call without rules, gets the profile's default action. Names
//! this architecture does not have are skipped, as libseccomp skips them.
//!
//! Arguments are 64 bits, compared as two 32-bit words (the filter reads 32 bits at a time):
//! the high word decides unless equal, then the low word.

use std::collections::BTreeMap;
use std::str::FromStr;

use seccompiler::{BpfProgram, sock_filter};
use syscalls::Sysno;

use super::CapMask;
use super::profile::{Action, ArgCmp, CmpOp, Profile, Target};

const LD_W_ABS: u16 = 0x20;
const JMP_JA: u16 = 0x05;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGT_K: u16 = 0x25;
const JMP_JGE_K: u16 = 0x35;
const JMP_JSET_K: u16 = 0x45;
const ALU_AND_K: u16 = 0x54;
const RET_K: u16 = 0x06;

/// Offsets in `struct seccomp_data`: `int nr; __u32 arch; __u64 instruction_pointer;
/// __u64 args[6];`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

/// The longest program the kernel takes (`BPF_MAXINSNS`).
const MAX_INSNS: usize = 4096;

/// The running architecture, as the filter and the profile name it.
struct Native {
    /// `AUDIT_ARCH_*` (linux/audit.h).
    audit: u32,
    /// The Go name profiles use in `includes.arches`.
    go: &'static str,
    /// System call numbers with this bit set belong to another ABI (x32).
    foreign_bit: Option<u32>,
}

#[cfg(target_arch = "x86_64")]
const NATIVE: Native = Native {
    audit: 0xc000_003e,
    go: "amd64",
    foreign_bit: Some(0x4000_0000),
};

#[cfg(target_arch = "aarch64")]
const NATIVE: Native = Native {
    audit: 0xc000_00b7,
    go: "arm64",
    foreign_bit: None,
};

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("the seccomp filter has {0} instructions, more than the kernel takes ({MAX_INSNS})")]
    TooLong(usize),
    #[error("the rules for the system call {0} are too long for one filter jump")]
    RuleTooLong(String),
}

/// The return value of a filter for `action`.
fn ret(action: Action) -> u32 {
    match action {
        Action::Allow => libc::SECCOMP_RET_ALLOW,
        Action::Errno(e) => libc::SECCOMP_RET_ERRNO | u32::from(e),
        Action::KillThread => libc::SECCOMP_RET_KILL_THREAD,
        Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
        Action::Trap => libc::SECCOMP_RET_TRAP,
        Action::Log => libc::SECCOMP_RET_LOG,
        Action::Trace(d) => libc::SECCOMP_RET_TRACE | u32::from(d),
    }
}

/// A jump target while a rule's code is assembled: fall through, skip `n`, or the next rule.
#[derive(Clone, Copy)]
enum To {
    Skip(u8),
    Fail,
}

struct Insn {
    code: u16,
    jt: To,
    jf: To,
    k: u32,
}

fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: To::Skip(0),
        jf: To::Skip(0),
        k,
    }
}

fn jump(code: u16, k: u32, jt: To, jf: To) -> Insn {
    Insn { code, jt, jf, k }
}

fn raw(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// The code of one comparison: falls through when it holds, jumps to `Fail` when not.
fn comparison(c: &ArgCmp, out: &mut Vec<Insn>) {
    let lo_off = OFF_ARGS + 8 * u32::from(c.index);
    let hi_off = lo_off + 4;
    let (hi, lo) = ((c.value >> 32) as u32, c.value as u32);
    let load_hi = stmt(LD_W_ABS, hi_off);
    let load_lo = stmt(LD_W_ABS, lo_off);
    let ok = To::Skip(0);
    match c.op {
        CmpOp::Eq => out.extend([
            load_hi,
            jump(JMP_JEQ_K, hi, ok, To::Fail),
            load_lo,
            jump(JMP_JEQ_K, lo, ok, To::Fail),
        ]),
        CmpOp::Ne => out.extend([
            load_hi,
            // A different high word: holds (skip the low word's two instructions).
            jump(JMP_JEQ_K, hi, ok, To::Skip(2)),
            load_lo,
            jump(JMP_JEQ_K, lo, To::Fail, ok),
        ]),
        CmpOp::MaskedEq => {
            let (mhi, mlo) = ((c.value >> 32) as u32, c.value as u32);
            let (dhi, dlo) = ((c.value_two >> 32) as u32, c.value_two as u32);
            out.extend([
                load_hi,
                stmt(ALU_AND_K, mhi),
                jump(JMP_JEQ_K, dhi, ok, To::Fail),
                load_lo,
                stmt(ALU_AND_K, mlo),
                jump(JMP_JEQ_K, dlo, ok, To::Fail),
            ]);
        }
        CmpOp::Gt | CmpOp::Ge => {
            let last = if c.op == CmpOp::Gt {
                JMP_JGT_K
            } else {
                JMP_JGE_K
            };
            out.extend([
                load_hi,
                // A greater high word holds (skip the next three).
                jump(JMP_JGT_K, hi, To::Skip(3), ok),
                jump(JMP_JEQ_K, hi, ok, To::Fail),
                load_lo,
                jump(last, lo, ok, To::Fail),
            ]);
        }
        CmpOp::Lt | CmpOp::Le => {
            // lo < v is !(lo >= v); lo <= v is !(lo > v).
            let last = if c.op == CmpOp::Lt {
                JMP_JGE_K
            } else {
                JMP_JGT_K
            };
            out.extend([
                load_hi,
                // A smaller high word holds (skip the next three).
                jump(JMP_JGE_K, hi, ok, To::Skip(3)),
                jump(JMP_JEQ_K, hi, ok, To::Fail),
                load_lo,
                jump(last, lo, To::Fail, ok),
            ]);
        }
    }
}

/// The code of one rule of a system call: its comparisons, then its action.
fn rule_code(args: &[ArgCmp], action: Action) -> Result<Vec<sock_filter>, ()> {
    let mut insns = Vec::new();
    for c in args {
        comparison(c, &mut insns);
    }
    insns.push(stmt(RET_K, ret(action)));
    let len = insns.len();
    let resolve = |i: usize, to: To| -> Result<u8, ()> {
        match to {
            To::Skip(n) => Ok(n),
            // The first instruction after this rule's return.
            To::Fail => u8::try_from(len - i - 1).map_err(|_| ()),
        }
    };
    insns
        .iter()
        .enumerate()
        .map(|(i, x)| Ok(raw(x.code, resolve(i, x.jt)?, resolve(i, x.jf)?, x.k)))
        .collect()
}

/// The running kernel's `major.minor`.
pub fn kernel_version() -> (u32, u32) {
    nix::sys::utsname::uname()
        .ok()
        .and_then(|u| super::profile::parse_kernel_version(&u.release().to_string_lossy()))
        .unwrap_or((0, 0))
}

/// One rule of a system call: its comparisons and its action.
type SyscallRule<'a> = (&'a [ArgCmp], Action);

/// Compiles `profile` for a container whose bounding set is `caps`.
pub fn compile(profile: &Profile, caps: CapMask) -> Result<BpfProgram, CompileError> {
    compile_for(profile, caps, kernel_version())
}

fn compile_for(
    profile: &Profile,
    caps: CapMask,
    kernel: (u32, u32),
) -> Result<BpfProgram, CompileError> {
    let target = Target {
        arch: NATIVE.go,
        caps,
        kernel,
    };
    // Per system call number, its rules in profile order.
    let mut by_nr: BTreeMap<u32, (Sysno, Vec<SyscallRule<'_>>)> = BTreeMap::new();
    for rule in profile.syscalls.iter().filter(|r| r.applies(&target)) {
        for name in &rule.names {
            let Ok(sysno) = Sysno::from_str(name) else {
                continue;
            };
            let entry = by_nr
                .entry(sysno.id() as u32)
                .or_insert_with(|| (sysno, Vec::new()));
            entry.1.push((&rule.args, rule.action));
        }
    }
    let default = ret(profile.default_action);
    let mut prog = vec![
        raw(LD_W_ABS, 0, 0, OFF_ARCH),
        raw(JMP_JEQ_K, 1, 0, NATIVE.audit),
        raw(RET_K, 0, 0, ret(Action::Errno(libc::ENOSYS as u16))),
        raw(LD_W_ABS, 0, 0, OFF_NR),
    ];
    if let Some(bit) = NATIVE.foreign_bit {
        prog.push(raw(JMP_JSET_K, 0, 1, bit));
        prog.push(raw(RET_K, 0, 0, ret(Action::Errno(libc::ENOSYS as u16))));
    }
    for (nr, (sysno, rules)) in by_nr {
        // Rules after one without comparisons can never decide.
        let last = rules
            .iter()
            .position(|(args, _)| args.is_empty())
            .unwrap_or(rules.len() - 1);
        let rules = &rules[..=last];
        if rules.len() == 1 && rules[0].0.is_empty() && ret(rules[0].1) == default {
            continue;
        }
        let mut block = Vec::new();
        for (args, action) in rules {
            block.extend(
                rule_code(args, *action)
                    .map_err(|()| CompileError::RuleTooLong(sysno.name().to_string()))?,
            );
        }
        if !rules[rules.len() - 1].0.is_empty() {
            block.push(raw(RET_K, 0, 0, default));
        }
        match u8::try_from(block.len()) {
            Ok(n) => prog.push(raw(JMP_JEQ_K, 0, n, nr)),
            Err(_) => {
                prog.push(raw(JMP_JEQ_K, 1, 0, nr));
                prog.push(raw(JMP_JA, 0, 0, block.len() as u32));
            }
        }
        prog.extend(block);
    }
    prog.push(raw(RET_K, 0, 0, default));
    if prog.len() > MAX_INSNS {
        return Err(CompileError::TooLong(prog.len()));
    }
    Ok(prog)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::runtime::security::profile::{Filter, Rule};
    use caps::Capability;

    /// Runs `prog` as the kernel would on one system call; its return value.
    pub(crate) fn eval(prog: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let word = |off: u32| -> u32 {
            match off {
                OFF_NR => nr,
                OFF_ARCH => arch,
                o if o >= OFF_ARGS => {
                    let i = ((o - OFF_ARGS) / 8) as usize;
                    if (o - OFF_ARGS).is_multiple_of(8) {
                        args[i] as u32
                    } else {
                        (args[i] >> 32) as u32
                    }
                }
                o => panic!("load of offset {o}"),
            }
        };
        let (mut pc, mut a) = (0usize, 0u32);
        loop {
            let i = &prog[pc];
            let cond = |c: bool| if c { i.jt } else { i.jf } as usize;
            pc += 1;
            match i.code {
                LD_W_ABS => a = word(i.k),
                ALU_AND_K => a &= i.k,
                JMP_JA => pc += i.k as usize,
                JMP_JEQ_K => pc += cond(a == i.k),
                JMP_JGT_K => pc += cond(a > i.k),
                JMP_JGE_K => pc += cond(a >= i.k),
                JMP_JSET_K => pc += cond(a & i.k != 0),
                RET_K => return i.k,
                c => panic!("opcode {c:#x}"),
            }
        }
    }

    pub(crate) fn decide(prog: &[sock_filter], sysno: Sysno, args: [u64; 6]) -> u32 {
        eval(prog, NATIVE.audit, sysno.id() as u32, args)
    }

    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | 1;
    const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | 38;

    fn one_rule(op: CmpOp, value: u64, value_two: u64) -> BpfProgram {
        let p = Profile {
            default_action: Action::Errno(1),
            architectures: vec![],
            syscalls: vec![Rule {
                names: vec!["personality".into(), "no_such_call".into()],
                action: Action::Allow,
                args: vec![ArgCmp {
                    index: 1,
                    op,
                    value,
                    value_two,
                }],
                includes: Filter::default(),
                excludes: Filter::default(),
            }],
        };
        compile_for(&p, CapMask::EMPTY, (6, 1)).unwrap()
    }

    #[test]
    fn comparisons_of_64_bit_arguments() {
        let big = 0x1_0000_0005u64;
        // (op, value, value_two, argument, holds)
        let cases = [
            (CmpOp::Eq, big, 0, big, true),
            (CmpOp::Eq, big, 0, 5, false),
            (CmpOp::Ne, big, 0, 5, true),
            (CmpOp::Ne, big, 0, big, false),
            (CmpOp::Gt, big, 0, big + 1, true),
            (CmpOp::Gt, big, 0, big, false),
            (CmpOp::Gt, big, 0, 0x2_0000_0000, true),
            (CmpOp::Gt, big, 0, 0xffff_ffff, false),
            (CmpOp::Ge, big, 0, big, true),
            (CmpOp::Ge, big, 0, big - 1, false),
            (CmpOp::Lt, big, 0, big - 1, true),
            (CmpOp::Lt, big, 0, 0xffff_ffff, true),
            (CmpOp::Lt, big, 0, big, false),
            (CmpOp::Lt, big, 0, 0x2_0000_0000, false),
            (CmpOp::Le, big, 0, big, true),
            (CmpOp::Le, big, 0, big + 1, false),
            (
                CmpOp::MaskedEq,
                0xff00_0000_00f0,
                0x1200_0000_0030,
                0x1234_0000_0031,
                true,
            ),
            (
                CmpOp::MaskedEq,
                0xff00_0000_00f0,
                0x1200_0000_0030,
                0x1234_0000_0041,
                false,
            ),
        ];
        for (op, value, two, arg, holds) in cases {
            let prog = one_rule(op, value, two);
            let got = decide(&prog, Sysno::personality, [0, arg, 0, 0, 0, 0]);
            let want = if holds { ALLOW } else { EPERM };
            assert_eq!(got, want, "{op:?} {value:#x} {arg:#x}");
        }
        // Other system calls and other architectures get the default and ENOSYS.
        let prog = one_rule(CmpOp::Eq, 0, 0);
        assert_eq!(decide(&prog, Sysno::read, [0; 6]), EPERM);
        assert_eq!(eval(&prog, 0x4000_0003, 0, [0; 6]), ENOSYS);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(eval(&prog, NATIVE.audit, 0x4000_0000, [0; 6]), ENOSYS);
    }

    fn default_caps() -> CapMask {
        super::super::DEFAULT_CAPS.into_iter().collect()
    }

    #[test]
    fn the_default_profile_as_podman() {
        let prog = compile(&super::super::default_profile::profile(), default_caps()).unwrap();
        let d = |s| decide(&prog, s, [0; 6]);
        for s in [
            Sysno::read,
            Sysno::execve,
            Sysno::clone,
            Sysno::clone3,
            Sysno::mkdir,
            Sysno::chroot,
            Sysno::unshare,
            Sysno::mount,
            Sysno::keyctl,
            Sysno::ptrace,
        ] {
            assert_eq!(d(s), ALLOW, "{s}");
        }
        for s in [
            Sysno::kexec_load,
            Sysno::swapon,
            Sysno::userfaultfd,
            Sysno::bpf,
            Sysno::open_by_handle_at,
            Sysno::sethostname,
            Sysno::init_module,
            Sysno::clock_settime,
        ] {
            assert_eq!(d(s), EPERM, "{s}");
        }
        for s in [Sysno::add_key, Sysno::request_key, Sysno::io_uring_setup] {
            assert_eq!(d(s), ENOSYS, "{s}");
        }
        let persona = |p| decide(&prog, Sysno::personality, [p, 0, 0, 0, 0, 0]);
        assert_eq!(persona(0), ALLOW);
        assert_eq!(persona(0xffff_ffff), ALLOW);
        assert_eq!(persona(0x0040_0000), ENOSYS);
        let socket = |domain, proto| decide(&prog, Sysno::socket, [domain, 2, proto, 0, 0, 0]);
        assert_eq!(socket(2, 0), ALLOW);
        assert_eq!(socket(16, 0), ALLOW);
        assert_eq!(socket(16, 9), libc::SECCOMP_RET_ERRNO | 22);

        let admin = default_caps().union([Capability::CAP_SYS_ADMIN].into_iter().collect());
        let prog = compile(&super::super::default_profile::profile(), admin).unwrap();
        assert_eq!(decide(&prog, Sysno::bpf, [0; 6]), ALLOW);
        assert_eq!(decide(&prog, Sysno::sethostname, [0; 6]), ALLOW);
        let none = compile(&super::super::default_profile::profile(), CapMask::EMPTY).unwrap();
        assert_eq!(decide(&none, Sysno::chroot, [0; 6]), EPERM);
    }

    /// The tables decide every system call, for several capability sets and arguments, as
    /// the profile Podman itself installed here does.
    #[test]
    fn the_default_profile_decides_as_containers_json() {
        let path = std::path::Path::new("/usr/share/containers/seccomp.json");
        if !path.exists() {
            eprintln!("SKIP: no {}", path.display());
            return;
        }
        let theirs = Profile::read(path).unwrap();
        let ours = super::super::default_profile::profile();
        let all: CapMask = caps::all().into_iter().collect();
        for caps in [default_caps(), CapMask::EMPTY, all] {
            let a = compile(&theirs, caps).unwrap();
            let b = compile(&ours, caps).unwrap();
            for nr in 0..600u32 {
                for args in [[0; 6], [16, 2, 9, 0, 0, 0], [8, 0, 0, 0, 0, 0]] {
                    let (x, y) = (
                        eval(&a, NATIVE.audit, nr, args),
                        eval(&b, NATIVE.audit, nr, args),
                    );
                    assert_eq!(x, y, "system call {nr} {args:?} with caps {caps}");
                }
            }
        }
    }
}

//! `kwasm ps` and `kwasm kill`: the programs running in the kernel now.

use crate::device::Device;
use anyhow::{bail, Context, Result};
use kwasm_abi::list::{STATE_ENDING, STATE_LOADING, STATE_RUNNING, STATE_STOPPED};
use kwasm_abi::{InstanceInfo, ENGINE_NATIVE, ENGINE_PULLEY};

fn engine(e: u32) -> &'static str {
    match e {
        ENGINE_NATIVE => "native",
        ENGINE_PULLEY => "pulley",
        _ => "?",
    }
}

fn state(s: u32) -> &'static str {
    match s {
        STATE_LOADING => "loading",
        STATE_RUNNING => "running",
        STATE_ENDING => "ending",
        STATE_STOPPED => "stopped",
        _ => "?",
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1}M", bytes as f64 / (1 << 20) as f64)
}

fn secs(ns: u64) -> String {
    format!("{:.2}s", ns as f64 / 1e9)
}

/// The `kwasm ps` table.
pub fn table(list: &[InstanceInfo]) -> String {
    let mut out = format!(
        "{:>7}  {:<7} {:<8} {:>8} {:>8} {:>9} {:>9}  {}\n",
        "PID", "ENGINE", "STATE", "MEMORY", "LIMIT", "CPU", "TIME", "PROGRAM"
    );
    for i in list {
        let limit = if i.memory_limit == 0 {
            "-".to_string()
        } else {
            mib(i.memory_limit)
        };
        let name = kwasm_abi::str_from_fixed(&i.name).unwrap_or("?");
        out.push_str(&format!(
            "{:>7}  {:<7} {:<8} {:>8} {:>8} {:>9} {:>9}  {}\n",
            i.pid,
            engine(i.engine),
            state(i.state),
            mib(i.memory_bytes),
            limit,
            secs(i.cpu_ns),
            secs(i.elapsed_ns),
            name
        ));
    }
    out
}

pub fn ps() -> Result<i32> {
    let list = Device::open()?.list()?;
    print!("{}", table(&list));
    Ok(0)
}

/// Ends the program a process runs in the kernel: SIGKILL to that process
/// (the program stops at its next yield point, within a millisecond tick).
/// Only pids `kwasm ps` lists are accepted, so this never kills anything
/// else.
pub fn kill(pid: i32) -> Result<i32> {
    let list = Device::open()?.list()?;
    if !list.iter().any(|i| i.pid == pid) {
        bail!("no program is running in kwasm.ko as pid {pid} (see `kwasm ps`)");
    }
    // SAFETY: kill(2) with a pid and a signal number has no memory effects.
    if unsafe { libc::kill(pid, libc::SIGKILL) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("cannot signal pid {pid}"));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_each_program() {
        let mut i = InstanceInfo {
            pid: 42,
            engine: ENGINE_NATIVE,
            state: STATE_RUNNING,
            ..Default::default()
        };
        i.memory_bytes = 3 << 20;
        i.cpu_ns = 1_500_000_000;
        i.name[..10].copy_from_slice(b"hello.wasm");
        let t = table(&[i]);
        let row = t.lines().nth(1).unwrap();
        for want in ["42", "native", "running", "3.0M", "1.50s", "hello.wasm"] {
            assert!(row.contains(want), "{want} missing from {row:?}");
        }
        assert!(row.contains(" - "), "no limit shows as -: {row:?}");
        assert_eq!(table(&[]).lines().count(), 1);
    }
}

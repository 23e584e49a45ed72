//! What the packages ship besides the binary comes from the binary itself:
//! `kwasm completions SHELL` and the hidden `kwasm manpages DIR`.

use std::process::Command;

fn kwasm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kwasm"))
}

#[test]
fn completions_know_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let out = kwasm().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {}", String::from_utf8_lossy(&out.stderr));
        let script = String::from_utf8(out.stdout).unwrap();
        for sub in ["run", "ps", "kill", "check", "wast", "version"] {
            assert!(script.contains(sub), "{shell} completion lacks `{sub}`");
        }
        // The generator is internal: not offered to users.
        assert!(!script.contains("manpages"), "{shell} completion offers the hidden manpages");
    }
    let bad = kwasm().args(["completions", "tcsh"]).output().unwrap();
    assert!(!bad.status.success());
}

#[test]
fn man_pages_for_the_command_and_each_subcommand() {
    let dir = std::env::temp_dir().join(format!("kwasm-man-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = kwasm().arg("manpages").arg(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    let want = ["check", "completions", "kill", "ps", "run", "version", "wast"]
        .iter()
        .map(|s| format!("kwasm-{s}.1"))
        .chain(["kwasm.1".to_string()]);
    let mut want: Vec<String> = want.collect();
    want.sort();
    assert_eq!(pages, want);
    // roff with the options the run subcommand documents.
    let run = std::fs::read_to_string(dir.join("kwasm-run.1")).unwrap();
    assert!(run.starts_with(".ie") || run.contains(".TH kwasm-run"), "{}", &run[..run.len().min(200)]);
    assert!(run.contains("timeout") && run.contains("engine"), "kwasm-run.1 lacks its options");
    std::fs::remove_dir_all(&dir).unwrap();
}

//! Time: the clocks (realtime plausible, monotonic never going back, a
//! sleep lasting at least as asked), a new file's mtime close to now,
//! File::set_modified / set_times to fixed instants read back exactly (on a
//! file and a directory), a write moving an old mtime forward. Only facts
//! about times are printed, or the fixed times the program set; those stay
//! in the tree, where the runner compares them too.

use kwasm_wasi_corpus::{done, opened, print_tree, show, ROOT};
use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// 2001-09-09T01:46:40.123456789Z
const FIXED_MTIME: Duration = Duration::new(1_000_000_000, 123_456_789);
/// 1995-06-13T01:46:40.000000001Z
const FIXED_ATIME: Duration = Duration::new(802_993_600, 1);
/// 1990-01-01T00:00:00.5Z
const FIXED_DIR_MTIME: Duration = Duration::new(631_152_000, 500_000_000);

fn since_epoch(t: std::io::Result<SystemTime>) -> std::io::Result<String> {
    t.map(|t| match t.duration_since(UNIX_EPOCH) {
        Ok(d) => format!("{}.{:09}", d.as_secs(), d.subsec_nanos()),
        Err(e) => format!("{:?} before the epoch", e.duration()),
    })
}

fn main() {
    let root = Path::new(ROOT);
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    // 2020-01-01 .. 2100-01-01
    println!("realtime plausible: {}", (1_577_836_800..4_102_444_800).contains(&secs));

    let t0 = Instant::now();
    let mut backwards = 0;
    let mut last = t0;
    for _ in 0..1000 {
        let t = Instant::now();
        if t < last {
            backwards += 1;
        }
        last = t;
    }
    println!("monotonic went backwards: {backwards} times");
    let before = Instant::now();
    std::thread::sleep(Duration::from_millis(30));
    let slept = before.elapsed();
    println!(
        "sleep 30 ms lasted at least 30 ms: {}",
        slept >= Duration::from_millis(30)
    );
    println!("sleep 30 ms lasted under 30 s: {}", slept < Duration::from_secs(30));

    // A new file's times are about now (file systems use a coarse clock).
    let file = root.join("stamped.txt");
    done("create stamped.txt", fs::write(&file, b"stamped\n"));
    let near = |t: std::io::Result<SystemTime>| {
        t.map(|t| t.duration_since(now).unwrap_or_else(|e| e.duration()) < Duration::from_secs(3600))
    };
    show(
        "mtime within an hour of now",
        near(fs::metadata(&file).and_then(|m| m.modified())),
    );
    show(
        "atime within an hour of now",
        near(fs::metadata(&file).and_then(|m| m.accessed())),
    );

    // Fixed times, set and read back to the nanosecond.
    if let Some(f) = opened("open stamped.txt", OpenOptions::new().write(true).open(&file)) {
        done("set_modified", f.set_modified(UNIX_EPOCH + FIXED_MTIME));
        show("modified", since_epoch(f.metadata().and_then(|m| m.modified())));
        let times = FileTimes::new()
            .set_accessed(UNIX_EPOCH + FIXED_ATIME)
            .set_modified(UNIX_EPOCH + FIXED_DIR_MTIME);
        done("set_times", f.set_times(times));
        show("modified", since_epoch(f.metadata().and_then(|m| m.modified())));
        show("accessed", since_epoch(f.metadata().and_then(|m| m.accessed())));
        // Only the access time: the modification time stays.
        done(
            "set_times accessed only",
            f.set_times(FileTimes::new().set_accessed(UNIX_EPOCH + FIXED_MTIME)),
        );
        show("modified", since_epoch(f.metadata().and_then(|m| m.modified())));
        show("accessed", since_epoch(f.metadata().and_then(|m| m.accessed())));
    }
    show(
        "modified by path",
        since_epoch(fs::metadata(&file).and_then(|m| m.modified())),
    );
    show(
        "symlink_metadata modified",
        since_epoch(fs::symlink_metadata(&file).and_then(|m| m.modified())),
    );

    // A write moves the old mtime to now.
    let old = root.join("old.txt");
    done("create old.txt", fs::write(&old, b"old\n"));
    if let Some(mut f) = opened("open old.txt", OpenOptions::new().append(true).open(&old)) {
        done("set_modified to 1990", f.set_modified(UNIX_EPOCH + FIXED_DIR_MTIME));
        done("append", f.write_all(b"newer\n"));
        let m = f.metadata().and_then(|m| m.modified());
        println!(
            "mtime moved past 2020 by the write: {:?}",
            m.map(|t| t > UNIX_EPOCH + Duration::from_secs(1_577_836_800))
                .map_err(|e| e.kind())
        );
        done("set_modified to 2001 again", f.set_modified(UNIX_EPOCH + FIXED_MTIME));
    }

    // A directory's times.
    if let Some(d) = opened("open emptydir", File::open(root.join("emptydir"))) {
        done(
            "set_modified on a directory",
            d.set_modified(UNIX_EPOCH + FIXED_DIR_MTIME),
        );
    }
    show(
        "emptydir modified",
        since_epoch(fs::metadata(root.join("emptydir")).and_then(|m| m.modified())),
    );
    // Through a symlink: the target's times.
    show(
        "link-file modified (follows)",
        since_epoch(fs::metadata(root.join("link-file")).and_then(|m| m.modified())).map(|s| !s.is_empty()),
    );
    if let Some(f) = opened("open read-only", File::open(root.join("hello.txt"))) {
        show(
            "set_modified on a read-only handle",
            f.set_modified(UNIX_EPOCH + FIXED_MTIME),
        );
    }

    print_tree("tree", root);
}

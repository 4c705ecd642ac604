//! `examples/hang_guard.rs`, the test harness built on the library: a command that hangs fails
//! with hangscan's report and exit status 124; one that ends passes its own status on. The
//! example's `run` is called in this process (the example is compiled in here), which is the
//! command's parent, as hang_guard is when run from the shell.

mod support;

#[path = "../examples/hang_guard.rs"]
#[allow(dead_code)] // its `main`
mod hang_guard;

fn run(args: &[&str]) -> (i32, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let mut report = Vec::new();
    let status = hang_guard::run(&args, &mut report);
    (status, String::from_utf8_lossy(&report).into_owned())
}

#[test]
fn a_command_that_hangs_fails_with_the_report() {
    let program = support::build_fixture("c_abba");
    let (status, report) = run(&["--timeout", "1", "--", program.to_str().unwrap()]);
    assert_eq!(status, hang_guard::HUNG, "{report}");
    assert!(
        report.contains("is still running after 1 s; why:"),
        "{report}"
    );
    assert!(
        report.contains("DEADLOCK: lock cycle: 2 threads wait on each other's locks"),
        "{report}"
    );
    assert!(
        report.contains("\"order-intake\"") && report.contains("\"restocker\""),
        "{report}"
    );
}

#[test]
fn a_command_that_ends_passes_its_status_on() {
    assert_eq!(run(&["--timeout", "60", "--", "sh", "-c", "exit 3"]).0, 3);
    assert_eq!(run(&["--", "true"]).0, 0);
    let (status, said) = run(&["--timeout", "soon", "--", "true"]);
    assert_eq!(status, hang_guard::TROUBLE, "{said}");
    assert!(said.contains("`soon` is not a number of seconds"), "{said}");
}

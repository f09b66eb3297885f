//! The `mqttsim` command line. All logic lives in [`mqttsim::cli`].

fn main() -> std::process::ExitCode {
    mqttsim::cli::main()
}

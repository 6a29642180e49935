fn main() -> std::process::ExitCode {
    chiiki::cli::main()
}

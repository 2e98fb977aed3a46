fn main() {
    mailroom::cli::signals::ignore_file_size_limit();
    let code = mailroom::cli::app::main();
    std::process::exit(code.code());
}

fn main() {
    mailroom::signals::ignore_file_size_limit();
    let code = match mailroom::cli::parse() {
        Ok(cli) => mailroom::app::run(cli),
        Err(e) => {
            // clap prints help and version too; only real errors are 64.
            let _ = e.print();
            if e.use_stderr() {
                mailroom::exit::Exit::Usage
            } else {
                mailroom::exit::Exit::Ok
            }
        }
    };
    std::process::exit(code.code());
}

# Homebrew formula for git-credential-azdo. Publish it in a tap with the release's tarball URL
# and its sha256 filled in (`brew create` style); `brew audit --strict` checks it.
class GitCredentialAzdo < Formula
  desc "Git credential helper for Azure DevOps: Entra ID sign-in, PATs, a small daemon"
  homepage "https://github.com/git-credential-azdo/git-credential-azdo"
  url "https://github.com/git-credential-azdo/git-credential-azdo/archive/refs/tags/v0.1.0.tar.gz"
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  license any_of: ["MIT", "Apache-2.0"]
  head "https://github.com/git-credential-azdo/git-credential-azdo.git", branch: "main"

  depends_on "rust" => :build

  def install
    system "cargo", "install", *std_cargo_args
    generate_completions_from_executable(bin/"git-credential-azdo", "completions")
    # The top page and one per subcommand (git-credential-azdo-login.1, ...).
    system bin/"git-credential-azdo", "man", "--dir", man1
  end

  # Optional: the helper starts the daemon on demand anyway.
  service do
    run [opt_bin/"git-credential-azdo", "daemon"]
    environment_variables GIT_CREDENTIAL_AZDO_IDLE_TIMEOUT: "0"
    keep_alive successful_exit: false
  end

  def caveats
    <<~EOS
      Configure git to use it for Azure DevOps, then sign in:
        git-credential-azdo install
        git-credential-azdo login --org ORGANIZATION
    EOS
  end

  test do
    assert_match version.to_s, shell_output("#{bin}/git-credential-azdo --version")
    ENV["GIT_CONFIG_GLOBAL"] = testpath/"gitconfig"
    system bin/"git-credential-azdo", "install"
    assert_match "git-credential-azdo", (testpath/"gitconfig").read
    # An empty request gets an empty answer, at once.
    assert_equal "", pipe_output("#{bin}/git-credential-azdo get", "\n")
  end
end

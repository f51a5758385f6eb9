import subprocess
import sys
import time

from medharvest.cli import main


def test_help_lists_commands_and_is_fast():
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "medharvest", "--help"], capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    assert out.returncode == 0, out.stderr
    assert "COMMAND" in out.stdout
    # heavy libraries must not be imported by --help
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; from medharvest.cli import build_parser; build_parser();"
         "heavy=[m for m in ('torch','spacy','selenium','scrapy','pytesseract','pandas','label_studio_sdk') if m in sys.modules];"
         "print(','.join(heavy))"],
        capture_output=True, text=True,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "", f"--help imports heavy modules: {probe.stdout}"
    assert elapsed < 10  # generous bound; the benchmark is the interpreter start-up


def test_unknown_command_exits_2_with_suggestion(capsys):
    try:
        main(["demoo"])
    except SystemExit as exc:
        assert exc.code == 2
    err = capsys.readouterr().err
    assert "did you mean 'demo'" in err

"""``jinglian card build RUN_DIR`` and ``jinglian card publish RUN_DIR --repo OWNER/NAME``."""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("card", help="dataset card, report plots, publishing to the Hugging Face Hub")
    cmds = p.add_subparsers(dest="card_command", required=True)

    b = cmds.add_parser("build", help="write the dataset card (README.md) and plots (report/) of a run")
    b.add_argument("run_dir", help="output of `jinglian run`: a directory, or a bucket prefix (s3://…) read by its markers")
    b.add_argument("--output", help="card path (default RUN_DIR/README.md, for a bucket run its README.md object); "
                                    "plots go to report/ beside it")
    _common(b)
    b.add_argument("--pretty-name", help="dataset name in the card (default: the job's name)")
    b.add_argument("--repo", help="Hub repository the card will live in (used in the loading snippets)")
    b.add_argument("--max-docs", type=int, default=200_000, help="kept documents measured for length/score plots")
    b.set_defaults(func=build_command)

    u = cmds.add_parser("publish", help="create a Hub dataset repo and upload card, plots and data")
    u.add_argument("run_dir", help="output of `jinglian run`: a directory, or a bucket prefix (s3://…) read by its markers")
    u.add_argument("--repo", required=True, help="OWNER/NAME of the dataset repository")
    visibility = u.add_mutually_exclusive_group()
    visibility.add_argument("--public", action="store_true", help="create the repository public (default: private)")
    # Private is the default; the flag stays accepted so existing scripts keep working.
    visibility.add_argument("--private", action="store_true", help="create the repository private (the default)")
    u.add_argument("--allow-pii", action="store_true",
                   help="publish even when no pii stage ran or the pre-publish scan finds personal data")
    u.add_argument("--pii-sample", type=int, default=10_000, metavar="DOCS",
                   help="documents scanned for personal data before publishing (default 10000)")
    u.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                   help="give up when the Hub stays silent this long on one connect/read/write (default 300)")
    u.add_argument("--dry-run", action="store_true",
                   help="build the card, scan for personal data and list the files that would be uploaded, upload nothing")
    u.add_argument("--endpoint", help="Hub URL (default: $HF_ENDPOINT or https://huggingface.co)")
    u.add_argument("--include-rejected", action="store_true", help="also upload rejected/ and errors/ (not redacted!)")
    _common(u)
    u.set_defaults(func=publish_command)


def _common(p) -> None:
    p.add_argument("--storage-options", default="{}", metavar="JSON",
                   help='filesystem settings of a bucket run, e.g. {"endpoint_url": "http://..."}; no credentials '
                        "(they come from the environment or profile files)")
    p.add_argument("--license", default="other", help="license identifier for the card metadata (default: other)")
    p.add_argument("--ascii-labels", action="store_true", help="draw plots without a CJK font (non-ASCII labels escaped)")


def build_command(args) -> int:
    from jinglian.cards.card import CardError, build_card
    from jinglian.cards.rundata import RunDirError

    try:
        card, path = build_card(
            args.run_dir,
            storage_options=_storage_options(args),
            output=args.output,
            license=args.license,
            pretty_name=args.pretty_name,
            repo_id=args.repo,
            cjk_font=not args.ascii_labels,
            max_docs=args.max_docs,
        )
    except (RunDirError, CardError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"card: {path} ({len(str(card)):,} characters)")
    return 0


def publish_command(args) -> int:
    from huggingface_hub.errors import HfHubHTTPError

    from jinglian.cards.card import CardError
    from jinglian.cards.publish import HubUnreachable, PublishError, publish
    from jinglian.cards.rundata import RunDirError

    try:
        publish(
            args.run_dir,
            args.repo,
            storage_options=_storage_options(args),
            private=not args.public,
            dry_run=args.dry_run,
            endpoint=args.endpoint,
            include_rejected=args.include_rejected,
            license=args.license,
            cjk_font=not args.ascii_labels,
            allow_pii=args.allow_pii,
            pii_sample=args.pii_sample,
            timeout_s=args.timeout,
        )
    except HubUnreachable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (RunDirError, CardError, PublishError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except HfHubHTTPError as exc:
        print(f"error: the Hub refused: {exc}", file=sys.stderr)
        return 1
    return 0


def _storage_options(args) -> dict:
    """--storage-options as a dict; ValueError (one line for the user) when it is not a JSON object or holds a secret."""
    import json

    from jinglian.core.filesystem import check_storage_options

    try:
        options = json.loads(args.storage_options)
    except ValueError as exc:
        raise ValueError(f"--storage-options: not JSON ({exc})") from None
    if not isinstance(options, dict):
        raise ValueError("--storage-options must be a JSON object")
    check_storage_options(options, "--storage-options")
    return options

"""``python -m bot`` runs the bot; ``python -m bot healthcheck`` checks a running one.

Only wiring and edge handling: settings, one-line errors (exit 2), logging set-up.
"""

from __future__ import annotations

import re
import sys
from urllib.parse import urlsplit

from pydantic import ValidationError
from telegram.error import InvalidToken

from search.settings import Settings

SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what Telegram accepts as secret_token


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _settings() -> Settings:
    return Settings()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print("usage: python -m bot [healthcheck]\n\nRuns the Telegram bot (settings: T2I_*).")
        return 0
    if args and args[0] != "healthcheck":
        return _fail(
            f"unknown command {args[0]!r}: use `python -m bot` or `python -m bot healthcheck`"
        )
    try:
        settings = _settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        return _fail(f"invalid setting T2I_{where.upper()}: {first.get('msg')}")
    if args:
        from bot.health import healthcheck

        healthy, reason = healthcheck(settings.heartbeat_file)
        print(reason)
        return 0 if healthy else 1
    return run(settings)


def run(settings: Settings) -> int:
    token = settings.bot_token.get_secret_value().strip() if settings.bot_token else ""
    if not token:
        return _fail(
            "T2I_BOT_TOKEN is not set: create a bot with @BotFather in Telegram "
            "(/newbot), then put its token in T2I_BOT_TOKEN (environment or .env)"
        )
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    if settings.webhook_url:
        if not secret:
            return _fail(
                "T2I_WEBHOOK_SECRET is not set: webhook mode needs a secret token "
                "(1-256 characters A-Z a-z 0-9 _ -) so forged updates are rejected"
            )
        if not SECRET_RE.match(secret):
            return _fail("T2I_WEBHOOK_SECRET may only hold 1-256 characters A-Z a-z 0-9 _ -")
    from bot import logs

    logs.configure(settings.log_level, [token, secret])
    from bot.app import ALLOWED_UPDATES, build_application

    app = build_application(settings)
    try:
        if settings.webhook_url:
            url_path = urlsplit(settings.webhook_url).path.strip("/")
            app.run_webhook(
                listen=settings.webhook_listen,
                port=settings.webhook_port,
                url_path=url_path,
                webhook_url=settings.webhook_url,
                secret_token=secret,
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            app.run_polling(allowed_updates=ALLOWED_UPDATES)
    except InvalidToken:
        return _fail("Telegram rejected T2I_BOT_TOKEN: check it with @BotFather (/token)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

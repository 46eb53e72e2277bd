"""Bot API method behaviour of the fake Telegram server: validation and results.

Each handler checks what Telegram checks (limits, known file ids, parseable
HTML) and answers the JSON ``result`` Telegram would, raising ``ApiError`` with
Telegram's own status and description otherwise. The HTTP side (routing,
recording, faults, long polling) lives in ``telegram_api``.
"""

from __future__ import annotations

import html
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telegram.constants import (
    InlineKeyboardButtonLimit,
    InlineQueryLimit,
    MediaGroupLimit,
    MessageLimit,
)

from tests.fakes.telegram_files import FileRejected, FileStore
from tests.fakes.telegram_updates import UpdateBuilder

JsonDict = dict[str, Any]

WRONG_FILE_ID = "Bad Request: wrong file identifier/HTTP URL specified"
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
NOT_A_MEMBER = "Forbidden: bot is not a member of the channel chat"
CHAT_NOT_FOUND = "Bad Request: chat not found"
CHAT_ACTIONS = {
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note",
    "upload_video_note",
}  # fmt: skip
HTML_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
    "code", "pre", "blockquote", "tg-emoji", "tg-time",
}  # fmt: skip
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)(\s[^<>]*)?>")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")


class ApiError(Exception):
    """A Bot API error answer: HTTP status, Telegram's description, optional parameters."""

    def __init__(self, code: int, description: str, parameters: JsonDict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> JsonDict:
        """The JSON body Telegram sends with this error."""
        body: JsonDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(description: str) -> ApiError:
    """A 400 answer; ``description`` without the "Bad Request: " prefix."""
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class Upload:
    """One multipart file part of a request."""

    data: bytes
    filename: str = ""
    content_type: str = "application/octet-stream"


@dataclass
class SentPhoto:
    """A photo the bot sent: uploaded bytes, or the file_id / URL it referenced."""

    chat_id: int | str
    message_id: int
    data: bytes | None
    file_id: str | None
    url: str | None
    caption: str | None
    parse_mode: str | None
    filename: str | None
    issued_file_id: str
    media_group_id: str | None = None


@dataclass
class BotState:
    """What the fake server remembers between calls, visible to tests."""

    files: FileStore
    updates: UpdateBuilder
    sent_photos: list[SentPhoto] = field(default_factory=list)
    rejected_file_ids: set[str] = field(default_factory=set)
    webhook: JsonDict = field(default_factory=dict)
    commands: dict[str, list[JsonDict]] = field(default_factory=dict)
    answered_callbacks: dict[str, JsonDict] = field(default_factory=dict)
    inline_answers: dict[str, JsonDict] = field(default_factory=dict)
    deleted_messages: list[tuple[int | str, int]] = field(default_factory=list)
    # Chats the bot cannot post to: 403 "not a member" and 400 "chat not found" on send*.
    forbidden_chats: set[int | str] = field(default_factory=set)
    missing_chats: set[int | str] = field(default_factory=set)


def visible_text(text: str, parse_mode: str | None) -> str:
    """The text a user sees; for HTML, raise Telegram's error on markup it cannot parse."""
    if (parse_mode or "").upper() != "HTML":
        return text
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        offset = len(text[:i].encode())
        if text[i] == "<":
            match = _TAG.match(text, i)
            name = match.group(2).lower() if match else ""
            if match is None or name not in HTML_TAGS:
                raise bad_request(
                    f'can\'t parse entities: Unsupported start tag "{name}" at byte offset {offset}'
                )
            if match.group(1):
                if not stack or stack[-1] != name:
                    expected = f'"</{stack[-1]}>"' if stack else "no end tag"
                    raise bad_request(
                        f"can't parse entities: Unmatched end tag at byte offset {offset}, "
                        f'expected {expected}, found "</{name}>"'
                    )
                stack.pop()
            else:
                stack.append(name)
            i = match.end()
        elif text[i] == "&" and (entity := _ENTITY.match(text, i)):
            out.append(html.unescape(entity.group(0)))
            i = entity.end()
        else:
            out.append(text[i])
            i += 1
    if stack:
        raise bad_request(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1]}\""
        )
    return "".join(out)


def check_markup(markup: JsonDict | None) -> JsonDict | None:
    """Validate an inline keyboard; return it as it appears on the sent message."""
    if not markup or "inline_keyboard" not in markup:
        return None
    for row in markup["inline_keyboard"]:
        for button in row:
            data = button.get("callback_data")
            if data is not None and not (
                InlineKeyboardButtonLimit.MIN_CALLBACK_DATA
                <= len(str(data).encode())
                <= InlineKeyboardButtonLimit.MAX_CALLBACK_DATA
            ):
                raise bad_request("BUTTON_DATA_INVALID")
    return markup


def _chat_id(params: JsonDict) -> int | str:
    chat_id = params.get("chat_id")
    if chat_id in (None, ""):
        raise bad_request("chat_id is empty")
    assert isinstance(chat_id, int | str)
    return chat_id


def _postable(state: BotState, chat_id: int | str) -> int | str:
    """``chat_id`` unless the bot cannot post there, where Telegram answers 403 or 400."""
    if str(chat_id) in {str(c) for c in state.forbidden_chats}:
        raise ApiError(403, NOT_A_MEMBER)
    if str(chat_id) in {str(c) for c in state.missing_chats}:
        raise ApiError(400, CHAT_NOT_FOUND)
    return chat_id


class Methods:
    """Bot API methods other than getUpdates, keyed by lower-case name (the API ignores case)."""

    def __init__(self, state: BotState, bot_user: JsonDict) -> None:
        self.state = state
        self.bot_user = bot_user
        self.table: dict[str, Callable[[JsonDict, dict[str, Upload]], Any]] = {
            "getme": lambda p, f: bot_user,
            "logout": lambda p, f: True,
            "close": lambda p, f: True,
            "setwebhook": self.set_webhook,
            "deletewebhook": self.delete_webhook,
            "getwebhookinfo": self.webhook_info,
            "setmycommands": self.set_commands,
            "getmycommands": self.get_commands,
            "deletemycommands": self.delete_commands,
            "sendmessage": self.send_message,
            "sendphoto": self.send_photo,
            "sendmediagroup": self.send_media_group,
            "sendchataction": self.send_chat_action,
            "answerinlinequery": self.answer_inline_query,
            "answercallbackquery": self.answer_callback_query,
            "editmessagetext": self.edit_message_text,
            "editmessagereplymarkup": self.edit_reply_markup,
            "getfile": self.get_file,
            "deletemessage": self.delete_message,
        }

    def call(self, method: str, params: JsonDict, files: dict[str, Upload]) -> Any:
        """Run one method; ApiError(404) for a method Telegram does not have."""
        handler = self.table.get(method.lower())
        if handler is None:
            raise ApiError(404, "Not Found")
        return handler(params, files)

    # -- messages -----------------------------------------------------------
    def _bot_message(self, chat_id: int | str, markup: JsonDict | None, **content: Any) -> JsonDict:
        """A Message from the bot, remembered so tests can press its buttons."""
        chat = self.state.updates.chat_for_send(chat_id)
        msg: JsonDict = {
            "message_id": self.state.updates.new_message_id(),
            "from": self.bot_user,
            "chat": chat,
            "date": int(time.time()),
            **{k: v for k, v in content.items() if v is not None},
        }
        if markup:
            msg["reply_markup"] = markup
        self.state.updates.bot_messages[(int(chat["id"]), int(msg["message_id"]))] = msg
        return msg

    def _text(self, params: JsonDict, key: str, limit: int, required: bool) -> str | None:
        """Validate text or caption the way Telegram does; return what the user sees."""
        raw = params.get(key)
        if raw is None or raw == "":
            if required:
                raise bad_request("message text is empty")
            return None
        text = visible_text(str(raw), params.get("parse_mode"))
        if required and not text.strip():
            raise bad_request("message text is empty")
        if len(text) > limit:
            raise bad_request(
                "message is too long" if key == "text" else "message caption is too long"
            )
        return text

    def send_message(self, params: JsonDict, files: dict[str, Upload]) -> JsonDict:
        chat_id = _postable(self.state, _chat_id(params))
        text = self._text(params, "text", MessageLimit.MAX_TEXT_LENGTH, required=True)
        markup = check_markup(params.get("reply_markup"))
        return self._bot_message(chat_id, markup, text=text)

    def _photo(
        self, ref: Any, files: dict[str, Upload], field_name: str
    ) -> tuple[list[JsonDict], SentPhoto]:
        """Resolve a photo reference (upload, attach://, file_id or URL) into PhotoSizes."""
        data = file_id = url = filename = None
        if ref is None or (isinstance(ref, str) and ref.startswith("attach://")):
            name = ref[len("attach://") :] if ref else field_name
            if name not in files:
                raise bad_request("there is no photo in the request")
            data, filename = files[name].data, files[name].filename
            try:
                sizes = self.state.files.add_photo(data)
            except FileRejected as exc:
                raise ApiError(400, exc.description) from exc
        elif isinstance(ref, str) and ref.startswith(("http://", "https://")):
            url = ref
            # The fake cannot fetch the URL; it issues a file_id for a 1x1 placeholder.
            sizes = self.state.files.photo_sizes(
                self.state.files.add(b"", "photos", "jpg", "image/jpeg").file_id
            )
        else:
            file_id = str(ref)
            if file_id not in self.state.files or file_id in self.state.rejected_file_ids:
                raise bad_request(WRONG_FILE_ID[len("Bad Request: ") :])
            sizes = self.state.files.photo_sizes(file_id)
        sent = SentPhoto(0, 0, data, file_id, url, None, None, filename, sizes[-1]["file_id"])
        return sizes, sent

    def send_photo(self, params: JsonDict, files: dict[str, Upload]) -> JsonDict:
        chat_id = _postable(self.state, _chat_id(params))
        caption = self._text(params, "caption", MessageLimit.CAPTION_LENGTH, required=False)
        markup = check_markup(params.get("reply_markup"))
        sizes, sent = self._photo(params.get("photo"), files, "photo")
        msg = self._bot_message(chat_id, markup, photo=sizes, caption=caption)
        sent.chat_id, sent.message_id = chat_id, int(msg["message_id"])
        sent.caption, sent.parse_mode = params.get("caption"), params.get("parse_mode")
        self.state.sent_photos.append(sent)
        return msg

    def send_media_group(self, params: JsonDict, files: dict[str, Upload]) -> list[JsonDict]:
        chat_id = _postable(self.state, _chat_id(params))
        media = params.get("media")
        if not isinstance(media, list):
            raise bad_request("can't parse media JSON object")
        if len(media) > MediaGroupLimit.MAX_MEDIA_LENGTH:
            raise bad_request("too many messages to send as an album")
        if len(media) < MediaGroupLimit.MIN_MEDIA_LENGTH:
            raise bad_request("wrong number of media specified: must be between 2 and 10")
        staged = []
        for item in media:
            caption = self._text(item, "caption", MessageLimit.CAPTION_LENGTH, required=False)
            if item.get("type") != "photo":
                raise bad_request(f"unsupported media type {item.get('type')!r} in this fake")
            sizes, sent = self._photo(item.get("media"), files, "")
            sent.caption, sent.parse_mode = item.get("caption"), item.get("parse_mode")
            staged.append((sizes, caption, sent))
        group_id = str(uuid.uuid4().int)[:18]
        messages = []
        for sizes, caption, sent in staged:
            msg = self._bot_message(
                chat_id, None, media_group_id=group_id, photo=sizes, caption=caption
            )
            sent.chat_id, sent.message_id = chat_id, int(msg["message_id"])
            sent.media_group_id = group_id
            self.state.sent_photos.append(sent)
            messages.append(msg)
        return messages

    def send_chat_action(self, params: JsonDict, files: dict[str, Upload]) -> bool:
        _postable(self.state, _chat_id(params))
        if params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def _find(self, params: JsonDict, missing: str) -> JsonDict:
        key = (int(_chat_id(params)), int(params.get("message_id") or 0))
        if key not in self.state.updates.bot_messages:
            raise bad_request(missing)
        return self.state.updates.bot_messages[key]

    def edit_message_text(self, params: JsonDict, files: dict[str, Upload]) -> JsonDict | bool:
        text = self._text(params, "text", MessageLimit.MAX_TEXT_LENGTH, required=True)
        markup = check_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        msg = self._find(params, "message to edit not found")
        if msg.get("text") == text and msg.get("reply_markup") == markup:
            raise bad_request(NOT_MODIFIED[len("Bad Request: ") :])
        msg["text"], msg["edit_date"] = text, int(time.time())
        msg.pop("reply_markup", None)
        if markup:
            msg["reply_markup"] = markup
        return msg

    def edit_reply_markup(self, params: JsonDict, files: dict[str, Upload]) -> JsonDict | bool:
        markup = check_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        msg = self._find(params, "message to edit not found")
        if msg.get("reply_markup") == markup:
            raise bad_request(NOT_MODIFIED[len("Bad Request: ") :])
        msg.pop("reply_markup", None)
        if markup:
            msg["reply_markup"] = markup
        return msg

    def delete_message(self, params: JsonDict, files: dict[str, Upload]) -> bool:
        msg = self._find(params, "message to delete not found")
        key = (int(msg["chat"]["id"]), int(msg["message_id"]))
        del self.state.updates.bot_messages[key]
        self.state.deleted_messages.append(key)
        return True

    # -- queries ------------------------------------------------------------
    def answer_callback_query(self, params: JsonDict, files: dict[str, Upload]) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if query_id not in self.state.updates.callback_query_ids:
            raise bad_request(QUERY_TOO_OLD[len("Bad Request: ") :])
        if query_id in self.state.answered_callbacks:
            raise bad_request(QUERY_TOO_OLD[len("Bad Request: ") :])
        if len(str(params.get("text") or "")) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        self.state.answered_callbacks[query_id] = params
        return True

    def answer_inline_query(self, params: JsonDict, files: dict[str, Upload]) -> bool:
        query_id = str(params.get("inline_query_id", ""))
        if query_id not in self.state.updates.inline_query_ids:
            raise bad_request(QUERY_TOO_OLD[len("Bad Request: ") :])
        results = params.get("results")
        if not isinstance(results, list):
            raise bad_request("can't parse inline query results JSON object")
        if len(results) > InlineQueryLimit.RESULTS:
            raise bad_request("RESULTS_TOO_MUCH")
        if len(str(params.get("next_offset") or "").encode()) > InlineQueryLimit.MAX_OFFSET_LENGTH:
            raise bad_request("NEXT_OFFSET_INVALID")
        ids = [str(r.get("id")) for r in results]
        if len(set(ids)) != len(ids):
            raise bad_request("RESULT_ID_DUPLICATE")
        for result in results:
            check_markup(result.get("reply_markup"))
            self._text(result, "caption", MessageLimit.CAPTION_LENGTH, required=False)
            cached = result.get("photo_file_id")
            if cached is not None and (
                cached not in self.state.files or cached in self.state.rejected_file_ids
            ):
                raise bad_request(WRONG_FILE_ID[len("Bad Request: ") :])
        self.state.inline_answers[query_id] = params
        return True

    # -- files, webhook, commands --------------------------------------------
    def get_file(self, params: JsonDict, files: dict[str, Upload]) -> JsonDict:
        file_id = str(params.get("file_id", ""))
        stored = self.state.files.get(file_id)
        if stored is None or file_id in self.state.rejected_file_ids:
            raise bad_request("invalid file_id")
        return stored.as_file()

    def set_webhook(self, params: JsonDict, files: dict[str, Upload]) -> bool:
        url = str(params.get("url") or "")
        if url and not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise bad_request("secret token contains unallowed characters")
        self.state.webhook = {
            "url": url,
            "secret_token": secret,
            "allowed_updates": params.get("allowed_updates"),
        }
        return True

    def delete_webhook(self, params: JsonDict, files: dict[str, Upload]) -> bool:
        self.state.webhook = {}
        return True

    def webhook_info(self, params: JsonDict, files: dict[str, Upload]) -> JsonDict:
        info: JsonDict = {
            "url": self.state.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": 0,
        }
        if self.state.webhook.get("allowed_updates"):
            info["allowed_updates"] = self.state.webhook["allowed_updates"]
        return info

    @staticmethod
    def _scope_key(params: JsonDict) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)

    def set_commands(self, params: JsonDict, files: dict[str, Upload]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            if not _COMMAND.match(str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("command description must be non-empty")
        self.state.commands[self._scope_key(params)] = commands
        return True

    def get_commands(self, params: JsonDict, files: dict[str, Upload]) -> list[JsonDict]:
        return self.state.commands.get(self._scope_key(params), [])

    def delete_commands(self, params: JsonDict, files: dict[str, Upload]) -> bool:
        self.state.commands.pop(self._scope_key(params), None)
        return True

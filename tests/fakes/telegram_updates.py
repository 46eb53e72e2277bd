"""Builders of realistic Bot API ``Update`` dicts for the fake Telegram server.

Tests describe what a user does ("sends a photo", "presses a button"); these
builders turn that into the JSON Telegram would deliver, with consistent ids,
users, chats, entities and file ids, so python-telegram-bot parses it exactly
like a real update.
"""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

from tests.fakes.telegram_files import FileStore, image_size

JsonDict = dict[str, Any]

DEFAULT_USER_ID = 1001
FIRST_UPDATE_ID = 500_000


def _command_entities(text: str) -> list[JsonDict]:
    """A ``bot_command`` entity for a leading ``/command`` like Telegram adds."""
    if not text.startswith("/"):
        return []
    length = len(text.split()[0]) if text.split() else 0
    return [{"type": "bot_command", "offset": 0, "length": length}] if length > 1 else []


class UpdateBuilder:
    """Keeps the ids Telegram would assign and builds updates from user actions."""

    def __init__(self, files: FileStore, bot_user: JsonDict) -> None:
        self.files = files
        self.bot_user = bot_user
        self.next_update_id = FIRST_UPDATE_ID
        self._message_ids = itertools.count(1)
        self._chat_instances: dict[int, str] = {}
        # Messages the bot sent, by (chat_id, message_id): what buttons can be pressed on.
        self.bot_messages: dict[tuple[int, int], JsonDict] = {}
        self.chats: dict[int, JsonDict] = {}
        self.callback_query_ids: set[str] = set()
        self.inline_query_ids: set[str] = set()

    # -- ids and entities -------------------------------------------------
    def new_message_id(self) -> int:
        """Next message id; one counter for users and the bot keeps ids unique."""
        return next(self._message_ids)

    def user(self, user_id: int = DEFAULT_USER_ID, language_code: str | None = "en") -> JsonDict:
        """A human ``User`` object."""
        user: JsonDict = {
            "id": user_id,
            "is_bot": False,
            "first_name": f"User{user_id}",
            "username": f"user{user_id}",
        }
        if language_code:
            user["language_code"] = language_code
        return user

    def chat(self, chat_id: int, chat_type: str | None = None) -> JsonDict:
        """A ``Chat`` object, remembered so the bot's replies carry the same chat.

        Without ``chat_type`` a known chat keeps its type and a new one is private
        for a positive id, a supergroup for a negative one; an explicit type wins.
        """
        known = self.chats.get(chat_id)
        if known is not None and chat_type in (None, known["type"]):
            return known
        chat_type = chat_type or ("private" if chat_id > 0 else "supergroup")
        chat: JsonDict = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat.update(first_name=f"User{chat_id}", username=f"user{chat_id}")
        else:
            chat["title"] = f"Test {chat_type} {chat_id}"
        self.chats[chat_id] = chat
        return chat

    def chat_for_send(self, chat_id: int | str) -> JsonDict:
        """The chat a bot sends to: a known one, or a private chat made up on the spot."""
        if isinstance(chat_id, int):
            return self.chat(chat_id)
        return {"id": -100_999, "type": "channel", "title": str(chat_id), "username": chat_id}

    def wrap(self, **payload: Any) -> JsonDict:
        """Wrap a payload (``message=...`` etc.) into an Update with the next update_id."""
        update = {"update_id": self.next_update_id, **payload}
        self.next_update_id += 1
        return update

    # -- messages ------------------------------------------------------------
    def message(
        self,
        *,
        user_id: int = DEFAULT_USER_ID,
        chat_id: int | None = None,
        language_code: str | None = "en",
        chat_type: str | None = None,
        reply_to_bot: bool = False,
        **content: Any,
    ) -> JsonDict:
        """A ``Message`` from a user; ``content`` holds text/photo/document/... fields.

        ``chat_id`` defaults to the user's private chat, or to a group id derived
        from the user when ``chat_type`` names a group.
        """
        if chat_id is None:
            private = chat_type in (None, "private")
            chat_id = user_id if private else -(1_000_000_000_000 + user_id)
        msg: JsonDict = {
            "message_id": self.new_message_id(),
            "from": self.user(user_id, language_code),
            "chat": self.chat(chat_id, chat_type),
            "date": int(time.time()),
        }
        if reply_to_bot:
            msg["reply_to_message"] = self._last_bot_message(chat_id)
        msg.update({k: v for k, v in content.items() if v is not None})
        return msg

    def _last_bot_message(self, chat_id: int) -> JsonDict:
        """The bot's latest message in the chat, or a plausible one if it sent none."""
        sent = [m for (c, _), m in self.bot_messages.items() if c == chat_id]
        if sent:
            return max(sent, key=lambda m: int(m["message_id"]))
        return {
            "message_id": self.new_message_id(),
            "from": self.bot_user,
            "chat": self.chat(chat_id),
            "date": int(time.time()),
            "text": "…",
        }

    def text(self, text: str, entities: list[JsonDict] | None = None, **kw: Any) -> JsonDict:
        """A text message update; a leading ``/command`` gets its bot_command entity."""
        ents = entities if entities is not None else _command_entities(text)
        return self.wrap(message=self.message(text=text, entities=ents or None, **kw))

    def photo(self, image: bytes, caption: str | None = None, **kw: Any) -> JsonDict:
        """A photo message; the bytes become downloadable through getFile."""
        width, height = image_size(image)
        stored = self.files.add(image, "photos", "jpg", "image/jpeg", width=width, height=height)
        sizes = [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": len(image),
                "width": width,
                "height": height,
            }
        ]
        return self.wrap(message=self.message(photo=sizes, caption=caption, **kw))

    def document(
        self, data: bytes, mime_type: str, file_name: str, caption: str | None = None, **kw: Any
    ) -> JsonDict:
        """A document (file) message; an image sent "as file" arrives like this."""
        ext = file_name.rsplit(".", 1)[-1] if "." in file_name else "bin"
        stored = self.files.add(data, "documents", ext, mime_type)
        doc = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(data),
        }
        return self.wrap(message=self.message(document=doc, caption=caption, **kw))

    def sticker(self, data: bytes = b"RIFF0000WEBPVP8 ", emoji: str = "🙂", **kw: Any) -> JsonDict:
        """A sticker message (static WebP)."""
        stored = self.files.add(data, "stickers", "webp", "image/webp")
        sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": len(data),
        }
        return self.wrap(message=self.message(sticker=sticker, **kw))

    def voice(self, data: bytes = b"OggS", duration: int = 2, **kw: Any) -> JsonDict:
        """A voice message (OGG/Opus)."""
        stored = self.files.add(data, "voice", "oga", "audio/ogg")
        voice = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": len(data),
        }
        return self.wrap(message=self.message(voice=voice, **kw))

    def edited_text(self, message_id: int, text: str, **kw: Any) -> JsonDict:
        """An ``edited_message`` update: the user changed an earlier text message."""
        msg = self.message(text=text, entities=_command_entities(text) or None, **kw)
        msg["message_id"] = message_id
        msg["edit_date"] = int(time.time())
        return self.wrap(edited_message=msg)

    # -- callbacks and inline -----------------------------------------------
    def callback(
        self,
        message: JsonDict | int,
        callback_data: str,
        *,
        user_id: int = DEFAULT_USER_ID,
        language_code: str | None = "en",
        chat_id: int | None = None,
        strict: bool = True,
    ) -> JsonDict:
        """A ``callback_query``: the user pressed a button on a message the bot sent.

        With ``strict`` the button must exist on that message, so a test fails
        when the bot never offered it.
        """
        if isinstance(message, int):
            key = (chat_id if chat_id is not None else user_id, message)
            if key not in self.bot_messages:
                raise ValueError(f"the bot sent no message {message} in chat {key[0]}")
            message = self.bot_messages[key]
        offered = [
            button.get("callback_data")
            for row in message.get("reply_markup", {}).get("inline_keyboard", [])
            for button in row
        ]
        if strict and callback_data not in offered:
            raise ValueError(f"no button with callback_data {callback_data!r}; offered {offered}")
        query_id = str(uuid.uuid4().int)[:19]
        self.callback_query_ids.add(query_id)
        chat_key = int(message["chat"]["id"])
        instance = self._chat_instances.setdefault(chat_key, str(uuid.uuid4().int)[:19])
        query = {
            "id": query_id,
            "from": self.user(user_id, language_code),
            "message": message,
            "chat_instance": instance,
            "data": callback_data,
        }
        return self.wrap(callback_query=query)

    def inline(
        self,
        query: str,
        offset: str = "",
        *,
        user_id: int = DEFAULT_USER_ID,
        language_code: str | None = "en",
        chat_type: str | None = "sender",
    ) -> JsonDict:
        """An ``inline_query``: the user typed ``@bot query`` in some chat."""
        query_id = str(uuid.uuid4().int)[:19]
        self.inline_query_ids.add(query_id)
        inline: JsonDict = {
            "id": query_id,
            "from": self.user(user_id, language_code),
            "query": query,
            "offset": offset,
        }
        if chat_type:
            inline["chat_type"] = chat_type
        return self.wrap(inline_query=inline)

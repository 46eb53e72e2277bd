"""Every string a user sees, per language (English and Russian), chosen by ``language_code``.

Texts are plain (no parse mode), so a query echoed back can never break Telegram's markup
parser. ``text(key, lang)`` falls back to English for unknown languages and keys.
"""

from __future__ import annotations

from typing import Final

EN: Final[dict[str, str]] = {
    "start": (
        "Hi! I find pictures by description, in any language.\n\n"
        "Just send me a few words, for example: red dress, a dog on the beach, "
        "закат над морем.\n\n"
        "I answer with an album of the best matches; press \u201cMore\u201d for the next ones. "
        "Send a photo to find similar pictures."
    ),
    "help": (
        "Send any text \u2014 a few words describing the picture you want, in any language. "
        "I reply with the best-matching images from my catalog.\n\n"
        "\u2022 \u201cMore\u201d under the album shows the next results.\n"
        "\u2022 In groups, mention me (@{username} your words) or reply to my message.\n"
        "\u2022 Works best in English, German, French, Spanish, Russian and other major "
        "languages; write a few descriptive words (\u201cred summer dress\u201d), not one "
        "ambiguous word.\n"
        "\u2022 cat -dog: fewer dogs; 2:sunset beach: sunset counts double.\n"
        "\u2022 Send a photo to find similar pictures; a caption adds words "
        "(\u201cbut red\u201d).\n"
        "\u2022 In any chat, type @{username} and your words to pick a picture from a grid.\n\n"
        "Commands: /start \u2014 introduction, /help \u2014 this message."
    ),
    "cmd_start": "What this bot does",
    "cmd_help": "How to search",
    "empty_query": "Please type a few words that describe the picture you are looking for.",
    "no_catalog": (
        "No catalog yet: the bot's operator has to build it with "
        "`python -m indexer build IMAGES_DIR`. Please try again later."
    ),
    "empty_catalog": (
        "The catalog is empty: the operator has to add images with "
        "`python -m indexer build IMAGES_DIR`. Please try again later."
    ),
    "rebuilding": "The image catalog is being rebuilt. Please try again in a little while.",
    "no_hits": "Nothing found. Try other words.",
    "images_unavailable": "I found matches, but their image files are not available right now.",
    "more_button": "More",
    "more_prompt": "Results {start}\u2013{end}. Want more?",
    "more_expired": "This button has expired. Please send your query again.",
    "more_done": "No more results.",
    "hint": (
        "I search pictures by text or by photo. Send me a few words, e.g. \u201cred dress\u201d, "
        "or a picture."
    ),
    "not_an_image": "That file is not a picture I can read. Send a photo (JPEG, PNG, WebP\u2026).",
    "photo_too_big": "That file is too big: pictures up to {limit_mb} MB, please.",
    "download_failed": "I could not fetch that picture from Telegram. Please send it again.",
    "inline_off": "Inline search is not set up here \u2014 tap to search in the chat",
    "inline_empty": "Type a few words to find pictures",
    "inline_unavailable": "The catalog is not ready \u2014 tap to learn more",
    "inline_warming": "Pictures are still being prepared \u2014 try again soon",
    "inline_no_hits": "Nothing found \u2014 try other words",
    "inline_not_allowed": "This bot is private \u2014 ask its owner for access",
    "slow_down": "Slow down a little, please: I am still working on your previous requests.",
    "not_allowed": "Sorry, this bot is private. Ask its owner for access.",
    "apology": "Sorry, something went wrong on my side. Please try again.",
}

RU: Final[dict[str, str]] = {
    "start": (
        "Привет! Я нахожу картинки по описанию на любом языке.\n\n"
        "Просто пришлите несколько слов, например: красное платье, собака на пляже, "
        "sunset over the sea.\n\n"
        "Я отвечу альбомом лучших совпадений; кнопка «Ещё» покажет следующие. "
        "Пришлите фото \u2014 найду похожие картинки."
    ),
    "help": (
        "Пришлите любой текст \u2014 несколько слов о картинке, которую ищете, на любом языке. "
        "Я отвечу самыми подходящими изображениями из каталога.\n\n"
        "\u2022 Кнопка «Ещё» под альбомом показывает следующие результаты.\n"
        "\u2022 В группах упомяните меня (@{username} ваши слова) или ответьте на моё "
        "сообщение.\n"
        "\u2022 Лучше всего работают английский, немецкий, французский, испанский, русский и "
        "другие распространённые языки; пишите несколько описательных слов («красное летнее "
        "платье»), а не одно многозначное слово.\n"
        "\u2022 кот -собака: меньше собак; 2:закат пляж: закат важнее вдвое.\n"
        "\u2022 Пришлите фото \u2014 найду похожие; подпись добавит слова («но красное»).\n"
        "\u2022 В любом чате наберите @{username} и слова, чтобы выбрать картинку из сетки.\n\n"
        "Команды: /start \u2014 знакомство, /help \u2014 эта справка."
    ),
    "cmd_start": "Что умеет бот",
    "cmd_help": "Как искать",
    "empty_query": "Напишите несколько слов о картинке, которую ищете.",
    "no_catalog": (
        "Каталога пока нет: администратор бота должен собрать его командой "
        "`python -m indexer build IMAGES_DIR`. Попробуйте позже."
    ),
    "empty_catalog": (
        "Каталог пуст: администратор должен добавить изображения командой "
        "`python -m indexer build IMAGES_DIR`. Попробуйте позже."
    ),
    "rebuilding": "Каталог изображений перестраивается. Попробуйте чуть позже.",
    "no_hits": "Ничего не нашлось. Попробуйте другие слова.",
    "images_unavailable": "Совпадения есть, но их файлы сейчас недоступны.",
    "more_button": "Ещё",
    "more_prompt": "Результаты {start}\u2013{end}. Показать ещё?",
    "more_expired": "Эта кнопка устарела. Пришлите запрос ещё раз.",
    "more_done": "Больше ничего нет.",
    "hint": (
        "Я ищу картинки по тексту или по фото. Пришлите несколько слов, например «красное "
        "платье», или картинку."
    ),
    "not_an_image": "Этот файл не похож на картинку. Пришлите фото (JPEG, PNG, WebP\u2026).",
    "photo_too_big": "Файл слишком большой: картинки до {limit_mb} МБ, пожалуйста.",
    "download_failed": "Не удалось получить картинку от Telegram. Пришлите её ещё раз.",
    "inline_off": "Встроенный поиск не настроен \u2014 нажмите, чтобы искать в чате",
    "inline_empty": "Наберите несколько слов, чтобы найти картинки",
    "inline_unavailable": "Каталог не готов \u2014 нажмите, чтобы узнать больше",
    "inline_warming": "Картинки ещё готовятся \u2014 попробуйте чуть позже",
    "inline_no_hits": "Ничего не нашлось \u2014 попробуйте другие слова",
    "inline_not_allowed": "Это закрытый бот \u2014 попросите доступ у владельца",
    "slow_down": "Пожалуйста, помедленнее: я ещё обрабатываю ваши предыдущие запросы.",
    "not_allowed": "Извините, это закрытый бот. Попросите доступ у его владельца.",
    "apology": "Извините, у меня что-то пошло не так. Попробуйте ещё раз.",
}

LANGUAGES: Final[dict[str, dict[str, str]]] = {"en": EN, "ru": RU}


def language(code: str | None) -> str:
    """The supported language for a Telegram ``language_code`` ("ru-RU" → "ru"), else "en"."""
    prefix = (code or "").split("-")[0].split("_")[0].lower()
    return prefix if prefix in LANGUAGES else "en"


def text(key: str, lang: str | None = "en", **values: object) -> str:
    """The string ``key`` in ``lang`` (English when missing), formatted with ``values``."""
    table = LANGUAGES.get(language(lang), EN)
    template = table.get(key, EN[key])
    return template.format(**values) if values else template

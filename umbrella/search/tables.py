"""Search's own table: the word list that corrects typos in gig searches (docs/search.md)."""

from piccolo.columns import Integer, Text
from piccolo.constraints import Check
from piccolo.table import Table


class GigWord(Table, tablename="gig_words"):
    """A word of an open upcoming gig's title or venue name, refreshed by the search-words job."""

    word = Text(primary_key=True)
    # Open upcoming gigs whose title or venue name holds the word (at the last refresh).
    gigs = Integer()

    gig_words_gigs_check = Check("gigs > 0")

"""Eventdeck dashboard entry point: the page registry and the navigation, nothing else."""
import streamlit as st

from views.registry import PAGES

st.set_page_config(page_title="Eventdeck", page_icon=":material/hub:", layout="wide")
st.navigation([st.Page(p.path, title=p.title, icon=p.icon, default=p.default) for p in PAGES]).run()

#!/usr/bin/env bash
# The first command of the README: installs what is missing, builds, makes a few sample videos with ffmpeg
# and indexes them on this machine (SQLite ledger + local folder, no server).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
dotnet build -c Release src/Cli -v quiet -nologo
demo=.tempme-demo
mkdir -p "$demo/videos"
for i in 1 2 3 4; do
  f="$demo/videos/sample-$i.mp4"
  [[ -f "$f" ]] || ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=duration=$((i * 3)):size=320x240:rate=25" \
    -vf "hue=h=$((i * 60))" -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$f"
done
printf 'not a video' > "$demo/videos/broken.mp4"
dotnet src/Cli/bin/Release/net10.0/tempme.dll index "$demo/videos" --out "$demo/index" --model random:vit-b32 "$@"
echo "demo index written to $demo/index (index.json, embeddings/, failures.jsonl)"

ALTER TABLE "events" ADD COLUMN "peer_id" uuid;--> statement-breakpoint
ALTER TABLE "events" ADD COLUMN "detail" jsonb;
CREATE TABLE "rate_buckets" (
	"account" text PRIMARY KEY NOT NULL,
	"tokens" double precision NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "pools" ADD COLUMN "runner" jsonb DEFAULT '{"kind":"sim"}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "pools" ADD COLUMN "readiness" jsonb DEFAULT '{}'::jsonb NOT NULL;
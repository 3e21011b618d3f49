CREATE TABLE "events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"entity" text NOT NULL,
	"entity_id" uuid NOT NULL,
	"pool" text,
	"from_state" text,
	"to_state" text NOT NULL,
	"actor" text NOT NULL,
	"reason" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "events_entity_check" CHECK ("events"."entity" IN ('machine', 'task'))
);
--> statement-breakpoint
CREATE TABLE "machines" (
	"id" uuid PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"pool" text NOT NULL,
	"provider_id" text,
	"ip" text,
	"state" text NOT NULL,
	"prev_state" text,
	"version" integer DEFAULT 1 NOT NULL,
	"uses" integer DEFAULT 0 NOT NULL,
	"task_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"state_changed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_error" text,
	CONSTRAINT "machines_state_check" CHECK ("machines"."state" IN ('provisioning', 'booting', 'ready', 'leased', 'draining', 'stopping', 'stopped', 'released', 'reimaging', 'deleting', 'failed')),
	CONSTRAINT "machines_uses_check" CHECK ("machines"."uses" >= 0),
	CONSTRAINT "machines_task_state_check" CHECK ("machines"."task_id" IS NULL OR "machines"."state" IN ('leased', 'stopping', 'stopped'))
);
--> statement-breakpoint
CREATE TABLE "pools" (
	"name" text PRIMARY KEY NOT NULL,
	"provider" text NOT NULL,
	"settings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"platform" text DEFAULT 'linux' NOT NULL,
	"arch" text DEFAULT 'x86_64' NOT NULL,
	"tags" text[] DEFAULT '{}'::text[] NOT NULL,
	"min_ready" integer DEFAULT 0 NOT NULL,
	"max_size" integer NOT NULL,
	"max_uses" integer,
	"idle_timeout_s" integer DEFAULT 600 NOT NULL,
	"recycle" text DEFAULT 'delete' NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "pools_provider_check" CHECK ("pools"."provider" IN ('aws', 'azure', 'sim')),
	CONSTRAINT "pools_platform_check" CHECK ("pools"."platform" IN ('linux', 'windows')),
	CONSTRAINT "pools_recycle_check" CHECK ("pools"."recycle" IN ('delete', 'reimage')),
	CONSTRAINT "pools_sizes_check" CHECK ("pools"."min_ready" >= 0 AND "pools"."max_size" >= 0 AND "pools"."min_ready" <= "pools"."max_size" AND ("pools"."max_uses" IS NULL OR "pools"."max_uses" >= 1) AND "pools"."idle_timeout_s" >= 0)
);
--> statement-breakpoint
CREATE TABLE "tasks" (
	"id" uuid PRIMARY KEY NOT NULL,
	"idempotency_key" text,
	"request_hash" text,
	"pool" text NOT NULL,
	"platform" text,
	"tags" text[] DEFAULT '{}'::text[] NOT NULL,
	"payload" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"priority" integer DEFAULT 50 NOT NULL,
	"timeout_s" integer DEFAULT 3600 NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"max_attempts" integer DEFAULT 3 NOT NULL,
	"state" text NOT NULL,
	"prev_state" text,
	"version" integer DEFAULT 1 NOT NULL,
	"machine_id" uuid,
	"outcome" text,
	"result" jsonb,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"state_changed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"assigned_at" timestamp with time zone,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	CONSTRAINT "tasks_state_check" CHECK ("tasks"."state" IN ('queued', 'assigned', 'running', 'completed', 'failed', 'timed_out', 'canceled')),
	CONSTRAINT "tasks_outcome_check" CHECK ("tasks"."outcome" IS NULL OR "tasks"."outcome" IN ('completed', 'failed', 'timed_out', 'requeue')),
	CONSTRAINT "tasks_priority_check" CHECK ("tasks"."priority" BETWEEN 0 AND 100),
	CONSTRAINT "tasks_attempts_check" CHECK ("tasks"."attempts" >= 0 AND "tasks"."max_attempts" >= 1)
);
--> statement-breakpoint
ALTER TABLE "machines" ADD CONSTRAINT "machines_pool_pools_name_fk" FOREIGN KEY ("pool") REFERENCES "public"."pools"("name") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_pool_pools_name_fk" FOREIGN KEY ("pool") REFERENCES "public"."pools"("name") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "events_entity_idx" ON "events" USING btree ("entity_id","id");--> statement-breakpoint
CREATE INDEX "events_pool_idx" ON "events" USING btree ("pool","id");--> statement-breakpoint
CREATE UNIQUE INDEX "machines_name_key" ON "machines" USING btree ("name");--> statement-breakpoint
CREATE UNIQUE INDEX "machines_pool_provider_id_key" ON "machines" USING btree ("pool","provider_id");--> statement-breakpoint
CREATE UNIQUE INDEX "machines_task_id_key" ON "machines" USING btree ("task_id") WHERE "machines"."task_id" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "machines_ready_idx" ON "machines" USING btree ("pool","state_changed_at") WHERE "machines"."state" = 'ready';--> statement-breakpoint
CREATE INDEX "machines_pool_state_idx" ON "machines" USING btree ("pool","state");--> statement-breakpoint
CREATE UNIQUE INDEX "tasks_idempotency_key_key" ON "tasks" USING btree ("idempotency_key");--> statement-breakpoint
CREATE UNIQUE INDEX "tasks_active_machine_key" ON "tasks" USING btree ("machine_id") WHERE "tasks"."state" IN ('assigned', 'running');--> statement-breakpoint
CREATE INDEX "tasks_queued_idx" ON "tasks" USING btree ("pool","priority" DESC NULLS LAST,"created_at","id") WHERE "tasks"."state" = 'queued';--> statement-breakpoint
CREATE INDEX "tasks_created_idx" ON "tasks" USING btree ("created_at" DESC NULLS LAST,"id" DESC NULLS LAST);